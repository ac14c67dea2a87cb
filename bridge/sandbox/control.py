"""Routes for tests and demos: inspect the ledger, inject faults, add orgs, and a live page.

None of these exist on the real platforms. They carry no auth: the sandbox
holds demo data only and is never a production core.
"""
from __future__ import annotations

import secrets

from flask import Blueprint, Response, jsonify, render_template_string

from .ledger import ConflictError, UnknownOrgError
from .models import SpecError
from .responses import current_ledger, error_response, json_object_body

control_blueprint = Blueprint("control", __name__)

RECENT_ENTRIES_ON_PAGE = 20


def _spec_error_response(error: SpecError) -> Response:
    if isinstance(error, ConflictError):
        return error_response(409, "CONFLICT", str(error))
    if isinstance(error, UnknownOrgError):
        return error_response(404, "NOT_FOUND", str(error))
    return error_response(400, "VALIDATION_ERROR", str(error))


@control_blueprint.get("/_sandbox/ledger")
def ledger_entries() -> Response:
    return jsonify(current_ledger().entries())


@control_blueprint.get("/_sandbox/requests")
def request_counts() -> Response:
    return jsonify(current_ledger().request_counts())


@control_blueprint.get("/_sandbox/faults")
def list_faults() -> Response:
    return jsonify(current_ledger().pending_faults())


@control_blueprint.post("/_sandbox/faults")
def add_fault() -> Response | tuple[Response, int]:
    try:
        fault = current_ledger().add_fault(json_object_body())
    except SpecError as error:
        return _spec_error_response(error)
    return jsonify(fault.as_dict()), 201


@control_blueprint.delete("/_sandbox/faults")
def clear_faults() -> Response:
    current_ledger().clear_faults()
    return jsonify({"success": True})


@control_blueprint.post("/_sandbox/reset")
def reset() -> Response:
    current_ledger().reset()
    return jsonify({"success": True})


@control_blueprint.get("/_sandbox/orgs")
def list_orgs() -> Response:
    return jsonify(current_ledger().orgs())


@control_blueprint.post("/_sandbox/orgs")
def add_org() -> Response | tuple[Response, int]:
    try:
        org = current_ledger().add_org(json_object_body())
    except SpecError as error:
        return _spec_error_response(error)
    return jsonify(org.as_dict()), 201


@control_blueprint.post("/_sandbox/orgs/<org_name>/customers")
def add_customer(org_name: str) -> Response | tuple[Response, int]:
    try:
        customer = current_ledger().add_customer(org_name, json_object_body())
    except SpecError as error:
        return _spec_error_response(error)
    return jsonify(customer.as_dict()), 201


@control_blueprint.post("/_sandbox/orgs/<org_name>/rotate-key")
def rotate_key(org_name: str) -> Response:
    body = json_object_body() or {}
    new_key = body.get("key")
    if new_key is None:
        new_key = secrets.token_hex(12)  # like the real "generate new key" button
    if not isinstance(new_key, str) or not new_key.strip():
        return error_response(400, "VALIDATION_ERROR", "key must be a non-empty string")
    try:
        org = current_ledger().rotate_key(org_name, new_key.strip())
    except SpecError as error:
        return _spec_error_response(error)
    return jsonify({"org": org.name, "api": org.api, "key": org.key})


# Jinja autoescapes render_template_string output, so names, emails and
# metadata posted by anyone are shown as text, never as markup.
HOME_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="2">
<title>Sandbox loyalty core</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
 table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
 th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
 th { background: #f3f3f3; } code { background: #f3f3f3; padding: 0 .2rem; }
</style></head><body>
<h1>Sandbox loyalty core</h1>
<p>Demo data only; this page refreshes every 2 seconds.
 JSON: <a href="{{ url_for('control.ledger_entries') }}">ledger</a>,
 <a href="{{ url_for('control.request_counts') }}">request counts</a>,
 <a href="{{ url_for('control.list_orgs') }}">orgs</a>.</p>
{% for org in orgs %}
<h2>{{ org.org }} <small>({{ org.api }})</small></h2>
<p>API key <code>{{ org.key }}</code>;
 {% if org.api == 'xtarly' %}program {{ org.program.type if org.program else 'none' }}
 {%- if org.accepts_negative %}, accepts negative amounts{% endif %}
 {% else %}country {{ org.country or '-' }}, {{ org.points_per_currency }} point(s) per currency unit
 {% endif %}</p>
<table><tr><th>id</th><th>name</th><th>email</th><th>phone</th><th>barcode</th><th>tier</th>
<th>points</th><th>{{ 'punches' if org.api == 'cockato' else 'stamps' }}</th></tr>
{% for c in org.customers %}<tr><td>{{ c.id }}</td><td>{{ c.name }}</td><td>{{ c.email or '' }}</td>
<td>{{ c.phone or '' }}</td><td>{{ c.barcode or '' }}</td><td>{{ c.tier or '' }}</td>
<td>{{ c.points }}</td><td>{{ c.stamps }}</td></tr>
{% else %}<tr><td colspan="8">no customers</td></tr>{% endfor %}
</table>
{% else %}<p>No organizations. Add one with <code>POST _sandbox/orgs</code>.</p>
{% endfor %}
<h2>Last {{ limit }} awards (newest first)</h2>
<table><tr><th>at</th><th>api</th><th>org</th><th>customer</th><th>amount</th><th>points</th>
<th>stamps/punches</th><th>reference</th><th>idempotency key</th></tr>
{% for e in entries %}<tr><td>{{ e.at }}</td><td>{{ e.api }}</td><td>{{ e.org }}</td>
<td>{{ e.customer_id }}</td><td>{{ e.amount }} {{ e.currency or '' }}</td><td>{{ e.points }}</td>
<td>{{ e.stamps or e.punches }}</td><td>{{ e.reference or (e.metadata | tojson if e.metadata else '') }}</td>
<td>{{ e.idempotency_key or '' }}</td></tr>
{% else %}<tr><td colspan="9">nothing yet: post a sale through the bridge</td></tr>{% endfor %}
</table>
</body></html>
"""


@control_blueprint.get("/")
def home_page() -> str:
    ledger = current_ledger()
    recent = list(reversed(ledger.entries()[-RECENT_ENTRIES_ON_PAGE:]))
    return render_template_string(HOME_PAGE, orgs=ledger.orgs(), entries=recent,
                                  limit=RECENT_ENTRIES_ON_PAGE)
