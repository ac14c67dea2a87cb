"""POST /hooks/<connection id>: verify, store, enqueue, answer. Nothing else.

Business logic lives in the worker; this request never calls a loyalty core
(`?wait=N`, where a connector allows it, only watches the store).
"""

from __future__ import annotations

import logging
import time
import uuid

from flask import Blueprint, current_app, jsonify, request

from bridge import connections, registry, rejections
from bridge.contract import ConnectionContext, Connector, InboundRequest
from bridge.errors import (ConflictingRepost, PayloadError, SignatureError, UnknownConnection,
                           UnsupportedMediaType, ValidationFailed)
from bridge.inbox import store_event
from bridge.logs import add_log_context, log_context
from bridge.metrics import INGEST_LATENCY, WEBHOOKS
from bridge.store.tables import utcnow
from bridge.web.waiting import MAX_WAIT_SECONDS, wait_for_outcome

log = logging.getLogger("bridge.hooks")
hooks = Blueprint("hooks", __name__)


def _media_type(value: str | None) -> str | None:
    return value.split(";", 1)[0].strip().lower() if value else None


@hooks.post("/hooks/<connection_id>", strict_slashes=False)
def receive(connection_id: str):
    with log_context(connection_id=connection_id):
        return _receive(connection_id)


def _receive(connection_id: str):
    started = time.perf_counter()
    bridge = current_app.extensions["bridge"]
    db = bridge.db
    with db.session() as session:
        row = connections.get(session, connection_id)
        if row is None or row.status == "disabled":
            raise UnknownConnection("no active connection at this URL")
        context = connections.context(db, row)
    current_app.extensions["ingest_limits"].check(connection_id, request.remote_addr, context.setting("rate_limit"))
    connector = registry.get(row.vendor)
    media_type = _media_type(request.content_type)
    if media_type and media_type not in connector.accepted_content_types:
        WEBHOOKS.labels(row.vendor, "unsupported_media_type").inc()
        raise UnsupportedMediaType(
            f"{connector.display_name} sends {', '.join(connector.accepted_content_types)}, not {media_type}")
    body = request.get_data(cache=True)
    if not body.strip():
        raise PayloadError("empty body: every vendor sends the sale in the body")
    wait = _wait_seconds(connector)  # refused before anything is stored
    inbound = InboundRequest(
        body=body,
        headers={name.lower(): value for name, value in request.headers.items()},
        url=connections.webhook_url(bridge.config.public_url, connection_id),
        content_type=request.content_type,
        remote_addr=request.remote_addr,
        query=request.args.to_dict(),
        received_at=utcnow(),
    )
    try:
        connector.verify(inbound, context)
    except SignatureError as rejection:
        WEBHOOKS.labels(row.vendor, "rejected").inc()
        log.info("rejected request for %s: %s", connection_id, rejection.message)
        rejections.record(db, connection_id, inbound, rejection.message)
        raise
    try:
        answer = connector.acknowledge(inbound, context)
    except ValidationFailed as invalid:
        # Kept (not queued) so support can see what the flow was sending.
        store_event(db, connection_id=connection_id, vendor=row.vendor,
                    vendor_event_id=f"rejected:{uuid.uuid4().hex}", request=inbound,
                    status="failed", reason=f"rejected: {invalid.message}")
        WEBHOOKS.labels(row.vendor, "invalid").inc()
        raise
    vendor_event_id = connector.event_id(inbound, context)
    stored = store_event(db, connection_id=connection_id, vendor=row.vendor,
                         vendor_event_id=vendor_event_id, request=inbound)
    add_log_context(event_id=stored.event_id)
    if stored.created:
        bridge.dispatcher.process_event(stored.event_id)
    else:
        _refuse_conflicting_repost(connector, stored.event_id, inbound, context)
    WEBHOOKS.labels(row.vendor, "stored" if stored.created else "duplicate").inc()
    INGEST_LATENCY.labels(row.vendor).observe(time.perf_counter() - started)
    reply = {"status": "accepted" if stored.created else "duplicate", "event_id": stored.event_id,
             "duplicate": not stored.created, **answer}
    if wait:
        reply.update(wait_for_outcome(db, stored.event_id, wait))
    return jsonify(reply), 202 if stored.created else 200


def _refuse_conflicting_repost(connector: Connector, event_id: int, again: InboundRequest,
                               context: ConnectionContext) -> None:
    from bridge.store.tables import EventRow

    with current_app.extensions["bridge"].db.session() as session:
        first = session.get(EventRow, event_id)
        stored = InboundRequest(body=first.body, headers=first.headers, url=again.url,
                                content_type=first.content_type)
    fields = connector.conflicts(stored, again, context)
    if fields:
        raise ConflictingRepost(fields)


def _wait_seconds(connector: Connector) -> float:
    raw = request.args.get("wait")
    if raw is None or not connector.supports_wait:
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT_SECONDS:  # NaN fails this too
        raise PayloadError(f"wait must be between 0 and {MAX_WAIT_SECONDS:g} seconds", path="?wait")
    return seconds
