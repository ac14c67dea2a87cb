"""The dashboard blueprint, its template helpers and the response headers every page gets."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, request

from bridge.money import format_minor

dashboard = Blueprint("dashboard", __name__, url_prefix="/admin",
                      template_folder="templates", static_folder="static")

# Everything the pages load comes from our static folder: no inline script,
# no third-party origin, no framing (the pages carry buttons that change things).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@dashboard.record_once
def _cookie_defaults(state) -> None:
    # The session cookie carries the admin token; keep it off cross-site
    # requests (the admin API accepts it too) and away from scripts.
    config = state.app.config
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_HTTPONLY"] = True


@dashboard.after_request
def _headers(response):
    if request.endpoint != "dashboard.static":
        response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def bridge():
    return current_app.extensions["bridge"]


@dashboard.app_template_filter("when")
def when(value) -> str:
    """An ISO string or aware datetime as support staff read it: UTC, to the second."""
    if not value:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@dashboard.app_template_filter("money")
def money(amount_minor, currency) -> str:
    try:
        return format_minor(int(amount_minor), currency)
    except Exception:  # an odd stored currency must not break the page
        return f"{amount_minor} (minor units) {currency or ''}".strip()
