"""The JSON shapes every sandbox answer shares, and the request helpers the API views use."""
from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from .ledger import Outcome, SandboxLedger

LEDGER_EXTENSION = "sandbox_ledger"


def current_ledger() -> SandboxLedger:
    return current_app.extensions[LEDGER_EXTENSION]


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message}}


def error_outcome(status: int, code: str, message: str) -> Outcome:
    return Outcome(status, error_body(code, message))


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    return outcome_response(Outcome(status, error_body(code, message), headers or {}))


def outcome_response(outcome: Outcome) -> Response:
    response = jsonify(outcome.body)
    response.status_code = outcome.status
    response.headers.update(outcome.headers)
    if outcome.replayed:
        # Not part of either platform's contract: lets a test or a person see the replay.
        response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotency_key() -> str | None:
    return request.headers.get("Idempotency-Key", "").strip() or None


def json_object_body() -> dict[str, Any] | None:
    """The request body as a JSON object, or None if it is missing, malformed or not an object.

    Content-Type is not required: a POS integration that forgets it still means JSON.
    """
    body = request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else None
