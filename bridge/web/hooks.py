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
from bridge.errors import (BridgeError, ConflictingRepost, PayloadError, SignatureError, UnknownConnection,
                           UnsupportedMediaType, ValidationFailed)
from bridge.inbox import insert_event, store_event
from bridge.logs import add_log_context, log_context
from bridge.metrics import INGEST_LATENCY, WEBHOOKS
from bridge.store.tables import utcnow
from bridge.web.waiting import MAX_WAIT_SECONDS, wait_for_outcome

log = logging.getLogger("bridge.hooks")
hooks = Blueprint("hooks", __name__)


def _media_type(value: str | None) -> str | None:
    return value.split(";", 1)[0].strip().lower() if value else None


class Tally:
    """Counts one request in bridge_webhooks_total: received once its
    connection is known, then verified, stored or duplicate, or rejected with
    the error's reason. A URL naming no connection counts under `unknown`, so
    a scanner cannot mint label values."""

    def __init__(self) -> None:
        self.connection, self.vendor = "unknown", "unknown"

    def known(self, connection_id: str, vendor: str) -> None:
        self.connection, self.vendor = connection_id, vendor
        self.count("received")

    def count(self, outcome: str, reason: str = "") -> None:
        WEBHOOKS.labels(self.connection, self.vendor, outcome, reason).inc()


@hooks.post("/hooks/<connection_id>", strict_slashes=False)
def receive(connection_id: str):
    tally = Tally()
    with log_context(connection_id=connection_id):
        try:
            return _receive(connection_id, tally)
        except BridgeError as refusal:
            tally.count("rejected", refusal.metric_reason)
            raise


def _receive(connection_id: str, tally: Tally):
    started = time.perf_counter()
    bridge = current_app.extensions["bridge"]
    db = bridge.db
    refused = None
    # One transaction from the connection's lookup to the stored event: a
    # round of the database per request is most of what ingest costs.
    with db.session() as session:
        row = connections.read(session, connection_id)
        if row is None or row.status == "disabled":
            raise UnknownConnection("no active connection at this URL")
        tally.known(connection_id, row.vendor)
        context = connections.context(db, row)
        current_app.extensions["ingest_limits"].check(connection_id, request.remote_addr,
                                                      context.setting("rate_limit"))
        connector = registry.get(row.vendor)
        inbound = _inbound(connector, connection_id, bridge.config.public_url)
        wait = _wait_seconds(connector)  # refused before anything is stored
        try:
            connector.verify(inbound, context)
            answer = connector.acknowledge(inbound, context)
        except (SignatureError, ValidationFailed) as refusal:
            refused = refusal  # recorded below, in a transaction of its own
        else:
            tally.count("verified")
            stored = insert_event(session, connection_id=connection_id, vendor=row.vendor,
                                  vendor_event_id=connector.event_id(inbound, context), request=inbound)
    if refused is not None:
        _record_refusal(db, connection_id, row.vendor, inbound, refused)
        raise refused  # counted by receive()
    add_log_context(event_id=stored.event_id)
    if stored.created:
        bridge.dispatcher.process_event(stored.event_id)
    else:
        _refuse_conflicting_repost(connector, stored.event_id, inbound, context)
    tally.count("stored" if stored.created else "duplicate")
    INGEST_LATENCY.labels(row.vendor).observe(time.perf_counter() - started)
    reply = {"status": "accepted" if stored.created else "duplicate", "event_id": stored.event_id,
             "duplicate": not stored.created, **answer}
    if wait:
        reply.update(wait_for_outcome(db, stored.event_id, wait))
    return jsonify(reply), 202 if stored.created else 200


def _inbound(connector: Connector, connection_id: str, public_url: str) -> InboundRequest:
    media_type = _media_type(request.content_type)
    if media_type and media_type not in connector.accepted_content_types:
        raise UnsupportedMediaType(
            f"{connector.display_name} sends {', '.join(connector.accepted_content_types)}, not {media_type}")
    body = request.get_data(cache=True)
    if not body.strip():
        raise PayloadError("empty body: every vendor sends the sale in the body")
    return InboundRequest(
        body=body,
        headers={name.lower(): value for name, value in request.headers.items()},
        url=connections.webhook_url(public_url, connection_id),
        content_type=request.content_type,
        remote_addr=request.remote_addr,
        query=request.args.to_dict(),
        received_at=utcnow(),
    )


def _record_refusal(db, connection_id: str, vendor: str, inbound: InboundRequest, refusal: Exception) -> None:
    if isinstance(refusal, SignatureError):
        log.info("rejected request for %s: %s", connection_id, refusal.message)
        rejections.record(db, connection_id, inbound, refusal.message)
    else:
        # Kept (not queued) so support can see what the flow was sending.
        store_event(db, connection_id=connection_id, vendor=vendor,
                    vendor_event_id=f"rejected:{uuid.uuid4().hex}", request=inbound,
                    status="failed", reason=f"rejected: {refusal.message}")


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
