"""Go-live routes of the admin API: `POST /api/connections/<id>/check` and `/test`.

Same shapes as `bridge connections check|test --json`; admin auth as the rest
of /api/ (a POST needs the bearer token). Both call the loyalty core from the
web process on purpose: they exist to answer "does it work, right now".
Documented in bridge/web/openapi.json and docs/go-live.md.

`app.extensions["golive_http"]`, when set, is the httpx client the calls use
(tests point it at the mounted sandbox); otherwise each call opens its own.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from bridge.errors import BadRequest
from bridge.golive import run_check, run_test
from bridge.web.admin_auth import require_admin

golive_api = Blueprint("golive_api", __name__, url_prefix="/api")



@golive_api.before_request
def _authenticate():
    g.actor = require_admin()


def _bridge():
    return current_app.extensions["bridge"]


def _http():
    return current_app.extensions.get("golive_http")


@golive_api.post("/connections/<connection_id>/check")
def check_connection(connection_id: str):
    state = _bridge()
    return jsonify(run_check(state.db, state.config, connection_id, http=_http()))


@golive_api.post("/connections/<connection_id>/test")
def test_connection(connection_id: str):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('send {"customer": "EMAIL|PHONE|BARCODE", "amount": "1.00"}')
    customer, amount = body.get("customer"), body.get("amount", "1.00")
    if not isinstance(customer, str) or not customer.strip():
        raise BadRequest("customer must be the test customer's email, E.164 phone or barcode")
    if isinstance(amount, bool) or not isinstance(amount, (str, int, float)):
        raise BadRequest('amount must be a decimal string such as "1.00"')
    state = _bridge()
    result = run_test(state.db, state.config, connection_id, customer, str(amount),
                      actor=f"api:{g.actor}", http=_http(), remote_addr=request.remote_addr)
    return jsonify(result)
