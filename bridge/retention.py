"""Retention: raw request bodies do not pile up for ever.

The sweeper calls `purge` on every pass; each call empties the body and
headers of at most BATCH settled events older than BRIDGE_RETENTION, in its
own short transaction, so ingest never waits on it. The event rows, their
transactions and every delivery attempt stay: the record of what was awarded
is kept; only the raw request (and with it, replay) goes.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bridge.store import Database
from bridge.store.tables import EventRow, utcnow

BATCH = 500
# Never purge what may still be worked on.
SETTLED = ("delivered", "skipped", "failed", "unmatched")


def purge(db: Database, retention_seconds: float) -> int:
    now = utcnow()
    cutoff = now - timedelta(seconds=retention_seconds)
    with db.session() as session:
        ids = list(session.scalars(
            select(EventRow.id).where(EventRow.body_purged_at.is_(None), EventRow.received_at < cutoff,
                                      EventRow.status.in_(SETTLED))
            .order_by(EventRow.body_purged_at, EventRow.received_at).limit(BATCH)))
        if ids:
            session.execute(update(EventRow).where(EventRow.id.in_(ids)).values(
                body=b"", headers={}, body_purged_at=now))
    return len(ids)
