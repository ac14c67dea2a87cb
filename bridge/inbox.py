"""The raw-event inbox: the one write the webhook request makes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge.contract import InboundRequest
from bridge.store import Database
from bridge.store.inserts import insert_or_nothing
from bridge.store.tables import EventRow, utcnow


# Credentials a caller sends, as opposed to signatures a vendor computes: the
# signature proves the body and is useless for another one; these would let
# anyone who reads the store post as the caller.
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "proxy-authorization", "cookie")


def stored_headers(headers) -> dict[str, str]:
    return {name: ("…" + value[-4:] if len(value) > 12 else "…") if name.lower() in CREDENTIAL_HEADERS else value
            for name, value in headers.items()}


@dataclass(frozen=True)
class Stored:
    event_id: int
    created: bool  # False: the vendor sent this event before; nothing changed


def store_event(db: Database, **event) -> Stored:
    """Commit the raw request, due for processing now (see `insert_event`)."""
    with db.session() as session:
        return insert_event(session, **event)


def insert_event(session: Session, *, connection_id: str, vendor: str, vendor_event_id: str,
                 request: InboundRequest, source: str = "webhook", status: str = "received",
                 reason: str | None = None, woken: bool = True) -> Stored:
    """The raw request, due for processing now, in the caller's transaction.

    The row is its own outbox entry: status `received` with `next_attempt_at`
    is what the sweeper looks for, so a lost enqueue is found again. `woken`:
    the caller wakes a worker itself; otherwise (the CLI, which has no
    broker) the sweeper's next pass does.
    """
    values = _event_values(connection_id, vendor, vendor_event_id, request, source, status, reason, woken)
    event_id = insert_or_nothing(session, EventRow, values, returning="id").scalar()
    if event_id is not None:
        return Stored(event_id=event_id, created=True)
    # The unique (connection, vendor event id) decided: a duplicate delivery.
    existing = session.scalar(select(EventRow.id).where(
        EventRow.connection_id == connection_id, EventRow.vendor_event_id == values["vendor_event_id"]))
    return Stored(event_id=existing, created=False)


def store_events(db: Database, *, connection_id: str, vendor: str,
                 requests: list[tuple[str, InboundRequest]], source: str, woken: bool = True) -> list[Stored]:
    """Several events in one transaction (a reconciliation's page); if any was
    stored meanwhile, each is stored on its own so the unique key decides."""
    rows = [EventRow(**_event_values(connection_id, vendor, event_id, request, source, "received", None, woken))
            for event_id, request in requests]
    try:
        with db.session() as session:
            session.add_all(rows)
            session.flush()
            return [Stored(event_id=row.id, created=True) for row in rows]
    except IntegrityError:
        return [store_event(db, connection_id=connection_id, vendor=vendor, vendor_event_id=event_id,
                            request=request, source=source, woken=woken) for event_id, request in requests]


def _event_values(connection_id: str, vendor: str, vendor_event_id: str, request: InboundRequest, source: str,
                  status: str, reason: str | None, woken: bool) -> dict:
    now = request.received_at or utcnow()
    return dict(
        connection_id=connection_id, vendor=vendor, vendor_event_id=vendor_event_id[:255],
        source=source, headers=stored_headers(request.headers), body=request.body,
        content_type=request.content_type, remote_addr=request.remote_addr,
        received_at=now, status=status, reason=reason,
        next_attempt_at=now if status == "received" else None, enqueued_at=now if woken else None,
    )
