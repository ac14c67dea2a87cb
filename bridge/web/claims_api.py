"""Receipt claims in the admin API: `GET /api/claims` and
`POST /api/claims/<id>/revoke` (admin auth as the rest of /api/). A claim also
shows on its sale in `GET /api/events/<id>` (`transactions[].claims`)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from bridge import claims, views
from bridge.store.tables import ClaimRow
from bridge.web.admin_auth import require_admin

claims_api = Blueprint("claims_api", __name__, url_prefix="/api")


@claims_api.before_request
def _authenticate():
    g.actor = require_admin()


@claims_api.get("/claims")
def list_claims():
    db = current_app.extensions["bridge"].db
    return jsonify({"claims": views.list_claims(db, request.args.get("connection_id") or None)})


@claims_api.post("/claims/<int:claim_id>/revoke")
def revoke_claim(claim_id: int):
    claim: ClaimRow = claims.revoke(current_app.extensions["bridge"].db, claim_id, f"api:{g.actor}")
    return jsonify(views.claim_view(claim))
