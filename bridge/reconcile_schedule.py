"""When the beat (or the embedded sweeper) reconciles a connection: every
`reconcile_every` since its last scheduled run started (bridge/reconcile.py
carries the run out)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_, select, update

from bridge import connections, registry
from bridge.store import Database
from bridge.store.tables import ConnectionRow, ReconcileRunRow, utcnow


def due_connections(db: Database, in_flight: timedelta, now: datetime | None = None) -> list[str]:
    """Connections whose next scheduled reconciliation is due and not already
    woken or running: every `reconcile_every` since the last one started (a
    run that stopped half-way is resumed then, from its cursor)."""
    now = now or utcnow()
    last_started = (select(ReconcileRunRow.connection_id, func.max(ReconcileRunRow.started_at).label("at"))
                    .where(ReconcileRunRow.trigger == "schedule")
                    .group_by(ReconcileRunRow.connection_id).subquery())
    with db.session() as session:
        candidates = session.execute(
            select(ConnectionRow.id, ConnectionRow.vendor, ConnectionRow.settings, last_started.c.at)
            .outerjoin(last_started, last_started.c.connection_id == ConnectionRow.id)
            .where(ConnectionRow.status != "disabled", ConnectionRow.vendor_token.is_not(None),
                   ConnectionRow.vendor_token_rejected_at.is_(None),
                   or_(ConnectionRow.reconcile_lease_until.is_(None), ConnectionRow.reconcile_lease_until < now),
                   or_(ConnectionRow.reconcile_enqueued_at.is_(None),
                       ConnectionRow.reconcile_enqueued_at < now - in_flight))).all()
        due = []
        for connection_id, vendor, settings, started in candidates:
            every = every_of(settings or {})
            if not every or not registry.get(vendor).supports_reconcile:
                continue
            if started is None or _aware(started) + every <= now:
                due.append(connection_id)
        if due:
            session.execute(update(ConnectionRow).where(ConnectionRow.id.in_(due)).values(reconcile_enqueued_at=now))
    return due


def every_of(settings: dict) -> timedelta | None:
    """The connection's interval; None when off or unreadable (refused at `set`)."""
    try:
        seconds = connections.reconcile_every_seconds(settings)
    except ValueError:
        return None
    return timedelta(seconds=seconds) if seconds else None


def _aware(moment: datetime) -> datetime:
    """A max() over a UTCDateTime column comes back naive on SQLite."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
