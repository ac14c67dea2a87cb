"""The public claim page, `GET|POST /claim/<slug>` (bridge.claims does the work).

No login: the slug is public, printed on receipts. A browser posts the form
(CSRF-protected, like the dashboard's forms) and gets a page back; a JSON
client posts the same fields as `application/json` and gets JSON back, which
a browser cannot send across sites without asking first.
"""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
from flask import Blueprint, current_app, jsonify, render_template, request

from bridge import claims, receipts
from bridge.delivery import Deliverer
from bridge.errors import RateLimited
from bridge.web.dashboard.guard import FormExpired, check_csrf

claim_page = Blueprint("claim", __name__, template_folder="templates")


def _bridge():
    return current_app.extensions["bridge"]


@claim_page.get("/claim/<slug>")
def show(slug: str):
    row = claims.find_connection(_bridge().db, slug)
    if row is None:
        return render_template("claim/missing.html"), 404
    # Today in the store's time zone: most claims are made the same evening.
    today = datetime.now(receipts.zone((row.settings or {}).get("timezone")) or timezone.utc).date()
    return render_template("claim/form.html", shop=row.name, form={"date": today.isoformat()}, problems={})


@claim_page.post("/claim/<slug>")
def submit(slug: str):
    wants_json = request.is_json
    state = _bridge()
    row = claims.find_connection(state.db, slug)
    if row is None:
        return (jsonify(claims.NOT_FOUND), 404) if wants_json else (render_template("claim/missing.html"), 404)
    fields = request.get_json(silent=True) if wants_json else request.form.to_dict()
    try:
        current_app.extensions["claim_limits"].check(row.id, request.remote_addr)
        if not wants_json:
            check_csrf()
        if not isinstance(fields, dict):
            raise claims.ClaimInvalid('send a JSON object: {"receipt", "date", "amount", and "email", '
                                      '"phone" or "barcode"}')
        form = claims.read_form(fields, row.country)
    except RateLimited as limited:
        claims.record_refusal(state.db, row.id, request.remote_addr, "rate_limited", limited.message)
        if wants_json:
            raise
        page = render_template("claim/form.html", shop=row.name, form=fields or {}, problems={},
                               notice="Too many tries from here. Wait a minute, then try again.")
        return page, 429, {"Retry-After": str(limited.retry_after)}
    except (claims.ClaimInvalid, FormExpired) as refused:
        claims.record_refusal(state.db, row.id, request.remote_addr, "invalid", refused.message)
        if wants_json:
            raise
        problems = {p["field"]: p["detail"] for p in refused.detail.get("errors", [])}
        notice = None if problems else "This page was open too long. Please try again."
        return render_template("claim/form.html", shop=row.name, form=fields or {}, problems=problems,
                               notice=notice), refused.status
    answer = _claim(state, row, form)
    if wants_json:
        return jsonify(answer.body), answer.http_status
    return render_template("claim/result.html", shop=row.name, answer=answer.body), answer.http_status


def _claim(state, row, form: claims.ClaimForm) -> claims.Answer:
    config = state.config
    shared = current_app.extensions.get("golive_http")  # tests: the mounted sandbox
    http = shared or httpx.Client(timeout=config.delivery_timeout_seconds, follow_redirects=False)
    try:
        deliverer = Deliverer(state.db, timeout=config.delivery_timeout_seconds,
                              retry_budget_seconds=config.retry_budget_seconds,
                              allow_private_targets=config.allow_private_targets, http=http)
        return claims.submit(state.db, deliverer, row, form, request.remote_addr)
    finally:
        if shared is None:
            http.close()
