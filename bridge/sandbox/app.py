"""The sandbox loyalty core as a Flask app: both platform APIs plus control routes.

Every request to an API blueprint passes through `_inject_fault_then_authenticate`
first, so an injected fault answers before any auth or processing, exactly
like a core that is down. Routes are relative to the app root: the bridge
mounts this app at /sandbox with DispatcherMiddleware.
"""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from .cockato import cockato_blueprint
from .control import control_blueprint
from .ledger import Fault, SandboxLedger
from .responses import LEDGER_EXTENSION, current_ledger, error_response
from .seed import demo_org_specs
from .xtarly import xtarly_blueprint

API_BLUEPRINTS = ("xtarly", "cockato")  # blueprint names double as API names

logger = logging.getLogger(__name__)


def create_sandbox_app(seed: bool = True) -> Flask:
    """A fresh core with its own state: seeded with the demo orgs, or empty."""
    app = Flask(__name__)
    app.json.sort_keys = False  # keep bodies in the documented field order
    app.extensions[LEDGER_EXTENSION] = SandboxLedger(demo_org_specs() if seed else [])
    for blueprint in (xtarly_blueprint, cockato_blueprint, control_blueprint):
        app.register_blueprint(blueprint)
    app.before_request(_inject_fault_then_authenticate)
    app.after_request(_count_then_delay_if_asked)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _fault_response(fault: Fault) -> Response:
    status = fault.status or 500
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    code = "RATE_LIMITED" if status == 429 else "INJECTED_FAULT"
    return error_response(status, code, f"sandbox fault injection: HTTP {status}", headers)


def _inject_fault_then_authenticate() -> Response | None:
    api = request.blueprint
    if api not in API_BLUEPRINTS:
        return None
    ledger = current_ledger()
    fault = ledger.take_fault(api)
    g.sandbox_fault = fault
    if fault and fault.delay:
        time.sleep(fault.delay)
    if fault and fault.status:
        return _fault_response(fault)
    # Both platforms name the header differently in their docs (X-API-Key,
    # x-api-key); HTTP header names are case-insensitive, so one lookup serves both.
    org = ledger.org_for_key(api, request.headers.get("X-API-Key", "").strip())
    if org is None:
        return error_response(401, "UNAUTHORIZED", "missing or invalid API key")
    g.sandbox_org = org
    return None


def _count_then_delay_if_asked(response: Response) -> Response:
    api = request.blueprint
    if api in API_BLUEPRINTS:
        current_ledger().count_request(api, response.status_code)
        fault: Fault | None = g.get("sandbox_fault")
        if fault and fault.after_process_delay and not fault.status:
            # The award (and its stored idempotent response) is already committed;
            # answering late lets a test time the client out after the core recorded it.
            time.sleep(fault.after_process_delay)
    return response


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 400:
        code = "VALIDATION_ERROR"
    else:
        code = (error.name or "error").upper().replace(" ", "_").replace("'", "")
    return error_response(status, code, error.description or error.name)


def _unexpected_error(error: Exception) -> Response:
    # A bug in the sandbox itself: log it here, answer JSON without a traceback.
    logger.exception("sandbox loyalty core failed on %s %s", request.method, request.path)
    return error_response(500, "INTERNAL_ERROR", "unexpected sandbox error")
