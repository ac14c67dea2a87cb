"""The sweeper: re-finds everything due that is not in flight and wakes a
worker for it. This is what makes a flushed Redis, a killed worker or a web
process killed between commit and enqueue lose nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from bridge.dispatch import Dispatcher
from bridge.store import Database
from bridge.store.tables import EventRow, TransactionRow, utcnow

BATCH = 500


def sweep(db: Database, dispatcher: Dispatcher, in_flight_seconds: float = 30.0) -> dict[str, int]:
    """Wake a worker for every due row not enqueued in the last `in_flight_seconds`
    (a row enqueued that recently is taken to be queued or running)."""
    now = utcnow()
    in_flight = timedelta(seconds=in_flight_seconds)
    found = {}
    for name, table, wake in (("events", EventRow, dispatcher.process_event),
                              ("transactions", TransactionRow, dispatcher.deliver)):
        status = "received" if table is EventRow else "pending"
        with db.session() as session:
            ids = session.scalars(
                select(table.id)
                .where(table.status == status, table.next_attempt_at <= now,
                       or_(table.lease_until.is_(None), table.lease_until < now),
                       or_(table.enqueued_at.is_(None), table.enqueued_at < now - in_flight))
                .order_by(table.next_attempt_at).limit(BATCH)).all()
            if ids:
                session.execute(update(table).where(table.id.in_(ids)).values(enqueued_at=now))
        for ident in ids:
            wake(ident)
        found[name] = len(ids)
    return found
