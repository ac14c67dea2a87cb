"""The raw-event inbox: the one write the webhook request makes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bridge.contract import InboundRequest
from bridge.store import Database
from bridge.store.tables import EventRow, utcnow


@dataclass(frozen=True)
class Stored:
    event_id: int
    created: bool  # False: the vendor sent this event before; nothing changed


def store_event(db: Database, *, connection_id: str, vendor: str, vendor_event_id: str,
                request: InboundRequest, source: str = "webhook", status: str = "received",
                reason: str | None = None) -> Stored:
    """Commit the raw request, due for processing now.

    The row is its own outbox entry: status `received` with `next_attempt_at`
    is what the sweeper looks for, so a lost enqueue is found again.
    """
    now = utcnow()
    row = EventRow(
        connection_id=connection_id, vendor=vendor, vendor_event_id=vendor_event_id[:255],
        source=source, headers=dict(request.headers), body=request.body,
        content_type=request.content_type, remote_addr=request.remote_addr,
        received_at=now, status=status, reason=reason,
        next_attempt_at=now if status == "received" else None, enqueued_at=now,
    )
    try:
        with db.session() as session:
            session.add(row)
            session.flush()
            return Stored(event_id=row.id, created=True)
    except IntegrityError:
        # The unique (connection, vendor event id) decided: a duplicate delivery.
        with db.session() as session:
            existing = session.scalar(select(EventRow.id).where(
                EventRow.connection_id == connection_id,
                EventRow.vendor_event_id == vendor_event_id[:255]))
        if existing is None:
            raise
        return Stored(event_id=existing, created=False)
