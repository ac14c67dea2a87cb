"""Who may use the admin API and dashboard.

BRIDGE_ADMIN_TOKEN set: a bearer token (or the dashboard's session cookie,
obtained with the same token) is required from everywhere, loopback included.
Unset: loopback only, and never a proxied request (a reverse proxy on the same
host would otherwise make every caller look local).
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import current_app, request, session

from bridge.errors import AdminAuthRequired, AdminForbidden


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def token_matches(candidate: str | None) -> bool:
    token = current_app.extensions["bridge"].config.admin_token
    return bool(token and candidate and hmac.compare_digest(candidate.encode(), token.encode()))


def require_admin(session_may_write: bool = False) -> str:
    """Raises unless the caller may administer; returns who they are, for the audit log.

    `session_may_write`: the dashboard's own pages, whose forms carry a CSRF
    token, accept the session cookie for POSTs too; the JSON API does not.
    """
    token = current_app.extensions["bridge"].config.admin_token
    if token:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and token_matches(header[len("Bearer "):].strip()):
            return "admin-token"
        # The dashboard's cookie reads the API (progress polling); every write
        # through the API needs the bearer token, so no other site can make a
        # logged-in browser change anything (the dashboard's own forms carry
        # a CSRF token).
        reading = request.method in ("GET", "HEAD")
        if session.get("admin") and token_matches(session.get("token")) and (reading or session_may_write):
            return session.get("actor") or "dashboard"
        raise AdminAuthRequired("send Authorization: Bearer <BRIDGE_ADMIN_TOKEN>")
    if request.headers.get("X-Forwarded-For") or not _is_loopback(request.remote_addr):
        raise AdminForbidden("without BRIDGE_ADMIN_TOKEN the admin API answers loopback only; set the token")
    return "local"
