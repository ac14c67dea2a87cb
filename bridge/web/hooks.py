"""POST /hooks/<connection id>: verify, store, enqueue, answer. Nothing else.

Business logic lives in the worker; this request never calls a loyalty core.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, jsonify, request

from bridge import connections, registry
from bridge.contract import InboundRequest
from bridge.errors import PayloadError, SignatureError, UnknownConnection, UnsupportedMediaType
from bridge.inbox import store_event
from bridge.metrics import INGEST_LATENCY, WEBHOOKS

log = logging.getLogger("bridge.hooks")
hooks = Blueprint("hooks", __name__)


def _media_type(value: str | None) -> str | None:
    return value.split(";", 1)[0].strip().lower() if value else None


@hooks.post("/hooks/<connection_id>", strict_slashes=False)
def receive(connection_id: str):
    started = time.perf_counter()
    bridge = current_app.extensions["bridge"]
    db = bridge.db
    with db.session() as session:
        row = connections.get(session, connection_id)
        if row is None or row.status == "disabled":
            raise UnknownConnection("no active connection at this URL")
        context = connections.context(db, row)
    connector = registry.get(row.vendor)
    media_type = _media_type(request.content_type)
    if media_type and media_type not in connector.accepted_content_types:
        WEBHOOKS.labels(row.vendor, "unsupported_media_type").inc()
        raise UnsupportedMediaType(
            f"{connector.display_name} sends {', '.join(connector.accepted_content_types)}, not {media_type}")
    body = request.get_data(cache=True)
    if not body.strip():
        raise PayloadError("empty body: every vendor sends the sale in the body")
    inbound = InboundRequest(
        body=body,
        headers={name.lower(): value for name, value in request.headers.items()},
        url=connections.webhook_url(bridge.config.public_url, connection_id),
        content_type=request.content_type,
        remote_addr=request.remote_addr,
    )
    try:
        connector.verify(inbound, context)
    except SignatureError as rejection:
        WEBHOOKS.labels(row.vendor, "rejected").inc()
        log.info("rejected request for %s: %s", connection_id, rejection.message)
        raise
    vendor_event_id = connector.event_id(inbound, context)
    stored = store_event(db, connection_id=connection_id, vendor=row.vendor,
                         vendor_event_id=vendor_event_id, request=inbound)
    if stored.created:
        bridge.dispatcher.process_event(stored.event_id)
    WEBHOOKS.labels(row.vendor, "stored" if stored.created else "duplicate").inc()
    INGEST_LATENCY.labels(row.vendor).observe(time.perf_counter() - started)
    status = "accepted" if stored.created else "duplicate"
    return jsonify({"status": status, "event_id": stored.event_id}), 202 if stored.created else 200
