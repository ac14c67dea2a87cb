"""A connection's own page: its state and the one-sentence fix, the setup
steps for its vendor with its URL filled in, its refused requests, and the
go-live Check and Test buttons.

The buttons post JSON here, not to /api/: the admin API takes writes only
with the bearer token (so no other site can drive a signed-in browser),
while these routes sit behind the dashboard's session and CSRF token
(`X-CSRF-Token`). Both call the same bridge.golive functions and answer the
same JSON as `bridge connections check|test --json`.
"""

from __future__ import annotations

from flask import current_app, jsonify, render_template, request

from bridge import registry, rejections
from bridge.errors import BridgeError
from bridge.golive import run_check, run_test
from bridge.web.dashboard import guides
from bridge.web.dashboard.blueprint import bridge, dashboard
from bridge.web.dashboard.connection_pages import KEY_KINDS, _describe, _row
from bridge.web.dashboard.guard import actor

REFUSALS_SHOWN = 10


@dashboard.get("/connections/<connection_id>")
def connection_page(connection_id: str):
    row = _row(connection_id)
    view = _describe(row)
    return render_template(
        "dashboard/connection.html", c=view, key_kinds=KEY_KINDS,
        vendor_name=registry.get(row.vendor).display_name,
        steps=guides.setup_steps(row.vendor, view["webhook_url"], row.id),
        refusals=rejections.recent(bridge().db, row.id, limit=REFUSALS_SHOWN))


def _http():
    return current_app.extensions.get("golive_http")


def _problem(error: BridgeError):
    return jsonify({"ok": False, "error": error.message, "code": error.code}), error.status


@dashboard.post("/connections/<connection_id>/check")
def check_connection(connection_id: str):
    try:
        return jsonify(run_check(bridge().db, bridge().config, connection_id, http=_http()))
    except BridgeError as error:
        return _problem(error)


@dashboard.post("/connections/<connection_id>/test")
def test_connection(connection_id: str):
    body = request.get_json(silent=True) or {}
    customer, amount = body.get("customer"), body.get("amount") or "1.00"
    if not isinstance(customer, str) or not customer.strip():
        return jsonify({"ok": False, "error": "Give the test customer's email, phone (+…) or barcode."}), 400
    if not isinstance(amount, str):
        return jsonify({"ok": False, "error": 'Give the amount as a decimal such as "1.00".'}), 400
    try:
        return jsonify(run_test(bridge().db, bridge().config, connection_id, customer, amount,
                                actor=f"dashboard:{actor()}", http=_http(), remote_addr=request.remote_addr))
    except BridgeError as error:
        return _problem(error)
