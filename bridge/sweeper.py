"""The sweeper: re-finds everything due that is not in flight and wakes a
worker for it. This is what makes a flushed Redis, a killed worker or a web
process killed between commit and enqueue lose nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from bridge.dispatch import Dispatcher
from bridge.reconcile_schedule import due_connections
from bridge.store import Database
from bridge.store.tables import EventRow, ReplayJobRow, TransactionRow, utcnow

BATCH = 500


def sweep(db: Database, dispatcher: Dispatcher, in_flight_seconds: float = 30.0,
          reconcile: bool = True) -> dict[str, int]:
    """Wake a worker for every due row not enqueued in the last `in_flight_seconds`
    (a row enqueued that recently is taken to be queued or running), and, with
    `reconcile`, for every connection whose reconciliation is due."""
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
    with db.session() as session:
        jobs = session.scalars(select(ReplayJobRow.id).where(
            ReplayJobRow.status == "running",
            or_(ReplayJobRow.lease_until.is_(None), ReplayJobRow.lease_until < now),
            or_(ReplayJobRow.enqueued_at.is_(None), ReplayJobRow.enqueued_at < now - in_flight))).all()
        if jobs:
            session.execute(update(ReplayJobRow).where(ReplayJobRow.id.in_(jobs)).values(enqueued_at=now))
    for job_id in jobs:
        dispatcher.replay_job(job_id)
    found["replay_jobs"] = len(jobs)
    reconciles = due_connections(db, in_flight, now) if reconcile else []
    for connection_id in reconciles:
        dispatcher.reconcile(connection_id)
    found["reconciles"] = len(reconciles)
    return found
