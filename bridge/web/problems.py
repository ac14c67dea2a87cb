"""Every error a caller sees, mapped in one place, as application/problem+json.

Nothing reaches a caller as a 500 or a stack trace: an unexpected failure
answers 503 so a vendor retries, and the detail goes to the log only.
"""

from __future__ import annotations

import logging
import uuid

from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from bridge.errors import BridgeError, StoreUnavailable

log = logging.getLogger("bridge.web")


def problem(status: int, title: str, detail: str, code: str, **extra):
    body = {"type": f"https://loyalty-bridge.dev/problems/{code}", "title": title,
            "status": status, "detail": detail, "code": code, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(BridgeError)
    def _bridge_error(error: BridgeError):
        response = problem(error.status, error.title, error.message, error.code, **error.detail)
        if error.status in (429, 503):
            response.headers["Retry-After"] = str(getattr(error, "retry_after", 5))
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        return problem(error.code or 400, error.name, error.description or error.name, code)

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    @app.errorhandler(DBAPIError)
    def _store_down(error: Exception):
        log.warning("store unavailable: %s", type(error).__name__)
        failure = StoreUnavailable("the event store is unavailable; retry later")
        response = problem(failure.status, failure.title, failure.message, failure.code)
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected error, incident %s", incident)
        response = problem(503, "Temporarily unavailable",
                           f"unexpected error (incident {incident}); retry later", "unexpected", incident=incident)
        response.headers["Retry-After"] = "5"
        return response
