"""The admin API under /api/: what support tools and the dashboard call.

JSON in and out; errors are problem+json like everywhere else. Documented in
bridge/web/openapi.json, served at /api/openapi.json.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from bridge import connections, rejections, replay, search, views
from bridge.errors import BadRequest, ConfigError, NotFound
from bridge.search import EventFilter
from bridge.store.tables import ConnectionRow, ReplayJobRow
from bridge.web.admin_auth import require_admin

api = Blueprint("admin_api", __name__, url_prefix="/api")
OPENAPI = Path(__file__).with_name("openapi.json")




@api.before_request
def _authenticate():
    if request.endpoint != "admin_api.openapi":
        g.actor = require_admin()


def _bridge():
    return current_app.extensions["bridge"]


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise BadRequest("body must be JSON")
    if body is not None and not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body or {}


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None


def _filters(values: dict) -> EventFilter:
    return EventFilter.from_strings({key: values.get(key) for key in values if key not in ("limit", "cursor")})


@api.get("/openapi.json")
def openapi():
    return current_app.response_class(OPENAPI.read_text(), mimetype="application/json")


@api.get("/events")
def list_events():
    rows, next_cursor = views.list_events(_bridge().db, _filters(request.args.to_dict()),
                                          limit=_int_arg("limit", 100), cursor=request.args.get("cursor"))
    return jsonify({"events": rows, "next_cursor": next_cursor})


@api.get("/events/<int:event_id>")
def show_event(event_id: int):
    view = views.show_event(_bridge().db, event_id)
    if view is None:
        raise NotFound(f"no event {event_id}")
    return jsonify(view)


@api.post("/events/<int:event_id>/replay")
def replay_event(event_id: int):
    found = replay.replay(_bridge().db, _bridge().dispatcher, [event_id], f"api:{g.actor}")
    if not found:
        raise NotFound(f"no event {event_id}")
    return jsonify({"replayed": found}), 202


@api.post("/replays")
def start_replay():
    body = _json_body()
    filters = body.get("filters") or {}
    if not isinstance(filters, dict) or not filters:
        raise BadRequest("filters must be an object with at least one filter, e.g. {\"status\": \"failed\"}")
    flt = EventFilter.from_strings({k: (None if v is None else str(v)) for k, v in filters.items()})
    db = _bridge().db
    if body.get("dry_run"):
        with db.session() as session:
            return jsonify({"matching": search.count(session, flt), "filters": flt.as_dict()})
    job = replay.start_job(db, flt, f"api:{g.actor}")
    if job.status == "running":
        _bridge().dispatcher.replay_job(job.id)
    return jsonify(replay.job_view(job)), 202


@api.get("/replays")
def list_replays():
    with _bridge().db.session() as session:
        jobs = session.scalars(select(ReplayJobRow).order_by(ReplayJobRow.id.desc()).limit(100))
        return jsonify({"replays": [replay.job_view(job) for job in jobs]})


@api.get("/replays/<int:job_id>")
def show_replay(job_id: int):
    with _bridge().db.session() as session:
        job = session.get(ReplayJobRow, job_id)
        if job is None:
            raise NotFound(f"no replay job {job_id}")
        return jsonify(replay.job_view(job))


@api.post("/replays/<int:job_id>/cancel")
def cancel_replay(job_id: int):
    try:
        job = replay.cancel_job(_bridge().db, job_id, f"api:{g.actor}")
    except replay.ReplayError as error:
        raise NotFound(str(error)) from None
    return jsonify(replay.job_view(job))


# -- connections ---------------------------------------------------------------
def _describe(row: ConnectionRow) -> dict:
    return connections.describe(_bridge().db, row, _bridge().config.public_url)


def _connection(connection_id: str) -> ConnectionRow:
    with _bridge().db.session() as session:
        row = connections.get(session, connection_id)
    if row is None:
        raise NotFound(f"no connection {connection_id}")
    return row


@api.get("/connections")
def list_connections():
    return jsonify({"connections": [_describe(row) for row in connections.list_rows(_bridge().db)]})


@api.post("/connections")
def create_connection():
    body = _json_body()
    required = ("vendor", "name", "target", "target_url", "target_key")
    missing = [name for name in required if not body.get(name)]
    if missing:
        raise ConfigError(f"missing {', '.join(missing)}")
    signing_keys = body.get("signing_keys") or ([body["signing_key"]] if body.get("signing_key") else [])
    settings = body.get("settings") or {}
    if not isinstance(signing_keys, list) or not isinstance(settings, dict):
        raise ConfigError("signing_keys must be a list and settings an object")
    made = connections.create(
        _bridge().db, vendor=str(body["vendor"]), name=str(body["name"]), target=str(body["target"]),
        target_url=str(body["target_url"]), target_key=str(body["target_key"]),
        signing_keys=[str(key) for key in signing_keys], vendor_token=body.get("vendor_token"),
        currency=body.get("currency"), country=body.get("country"),
        settings={str(k): str(v) for k, v in settings.items()},
        allow_private_targets=_bridge().config.allow_private_targets)
    view = _describe(made.row)
    if made.generated_signing_key:
        view["signing_key"] = made.generated_signing_key  # shown once, here
    return jsonify(view), 201


@api.get("/connections/<connection_id>")
def show_connection(connection_id: str):
    return jsonify(_describe(_connection(connection_id)))


@api.get("/connections/<connection_id>/rejections")
def list_rejections(connection_id: str):
    _connection(connection_id)
    return jsonify({"rejections": rejections.recent(_bridge().db, connection_id, limit=_int_arg("limit", 50))})


@api.patch("/connections/<connection_id>")
def update_settings(connection_id: str):
    settings = _json_body().get("settings")
    if not isinstance(settings, dict) or not settings:
        raise BadRequest("send {\"settings\": {\"name\": \"value\"}}")
    _connection(connection_id)
    row = connections.set_settings(_bridge().db, connection_id, {str(k): str(v) for k, v in settings.items()})
    return jsonify(_describe(row))


@api.post("/connections/<connection_id>/rotate-key")
def rotate_key(connection_id: str):
    body = _json_body()
    keys = {name: body.get(name) for name in ("target_key", "signing_key", "vendor_token")}
    if not any(keys.values()):
        raise BadRequest("send one of target_key, signing_key, vendor_token")
    _connection(connection_id)
    row = connections.rotate(_bridge().db, connection_id, **keys)
    return jsonify(_describe(row))


@api.post("/connections/<connection_id>/<any(pause, resume, disable):action>")
def change_status(connection_id: str, action: str):
    _connection(connection_id)
    status = {"pause": "paused", "resume": "active", "disable": "disabled"}[action]
    row = connections.set_status(_bridge().db, connection_id, status, f"api:{g.actor}")
    return jsonify(_describe(row))


@api.get("/overview")
def overview():
    """Per connection, the last 24 hours: counts by status and the last problem."""
    since, summaries = views.overview(_bridge().db)
    return jsonify({"since": since.isoformat(), "connections": [{
        "connection": _describe(entry["connection"]),
        "last_24h": {"total": sum(entry["by_status"].values()),
                     **{status: entry["by_status"].get(status, 0) for status in search.STATUSES}},
        "last_error": entry["last_error"] and {**entry["last_error"], "at": entry["last_error"]["at"].isoformat()},
    } for entry in summaries]})
