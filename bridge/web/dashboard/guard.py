"""Who may see the dashboard: the admin rules of bridge.web.admin_auth, a login
page that keeps the token in the signed session cookie, and CSRF tokens for
every form that changes something."""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid

from flask import flash, g, redirect, render_template, request, session, url_for
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from bridge.errors import AdminAuthRequired, BridgeError, FormExpired
from bridge.web.admin_auth import require_admin, token_matches
from bridge.web.dashboard.blueprint import bridge, dashboard

log = logging.getLogger("bridge.dashboard")
PUBLIC_ENDPOINTS = {"dashboard.login", "dashboard.static"}




@dashboard.app_template_global("csrf_token")
def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not (sent and expected and hmac.compare_digest(sent.encode(), expected.encode())):
        raise FormExpired("the form was not sent from this dashboard, or your session changed; "
                          "reload the page and try again")


def actor() -> str:
    """Who did it, for the audit log."""
    who = g.get("actor") or "dashboard"
    return who if who.startswith("dashboard") else f"dashboard:{who}"


def _safe_next(target: str | None) -> str:
    """Only back to a dashboard page: never an open redirect."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target.rstrip("?")
    return url_for("dashboard.overview")


@dashboard.before_request
def _guard():
    g.token_required = bool(bridge().config.admin_token)
    if request.endpoint not in PUBLIC_ENDPOINTS:
        try:
            g.actor = require_admin(session_may_write=True)
        except AdminAuthRequired:
            if session.pop("admin", None):
                session.pop("token", None)
                flash("Your session ended (the admin token changed). Sign in again.", "error")
            return redirect(url_for("dashboard.login", next=_safe_next(request.full_path)))
    if request.method == "POST":
        check_csrf()
    return None


@dashboard.route("/login", methods=["GET", "POST"])
def login():
    next_page = _safe_next(request.values.get("next"))
    if not g.token_required:
        return redirect(next_page)
    error = None
    if request.method == "POST":
        candidate = (request.form.get("token") or "").strip()
        if token_matches(candidate):
            session.clear()
            session.update(admin=True, token=candidate, actor="dashboard", csrf=secrets.token_urlsafe(32))
            return redirect(next_page)
        error = "That is not the admin token. It is the value of BRIDGE_ADMIN_TOKEN on the server."
    elif session.get("admin") and token_matches(session.get("token")):
        return redirect(next_page)
    return render_template("dashboard/login.html", next_page=next_page, error=error), (401 if error else 200)


@dashboard.post("/logout")
def logout():
    session.clear()
    flash("Signed out.", "ok")
    return redirect(url_for("dashboard.login") if g.token_required else url_for("dashboard.overview"))


# -- errors: pages, never JSON, never a stack trace ---------------------------
def _error_page(status: int, title: str, message: str):
    return render_template("dashboard/error.html", status=status, title=title, message=message), status


@dashboard.errorhandler(BridgeError)
def _bridge_error(error: BridgeError):
    return _error_page(error.status, error.title, error.message)


@dashboard.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return _error_page(error.code or 400, error.name, error.description or error.name)


@dashboard.errorhandler(DBAPIError)
def _store_down(error: DBAPIError):
    log.warning("store unavailable: %s", type(error).__name__)
    return _error_page(503, "The event store is unavailable", "The database did not answer. Try again shortly.")


@dashboard.errorhandler(Exception)
def _unexpected(error: Exception):
    incident = uuid.uuid4().hex[:12]
    log.exception("dashboard: unexpected error, incident %s", incident)
    return _error_page(503, "Something went wrong",
                       f"An unexpected error happened (incident {incident}, in the server log). Try again.")
