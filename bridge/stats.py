"""Queue figures read from the store when asked: /metrics computes them at
scrape time and `bridge stats` prints them, so both always agree and no
process has to keep a gauge up to date.

Every query is an index range (events by status, transactions by status and
next attempt), so a scrape stays cheap with millions of settled rows.
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from bridge import liveness
from bridge.store import Database
from bridge.store.tables import ConnectionRow, EventRow, ReplayJobRow, TransactionRow, utcnow

QUEUE_STATES = ("pending", "paused")


def queue_figures(db: Database, connection_id: str | None = None) -> dict:
    """{"connections": {id: {...}}, "replay_jobs": [...]}: what is waiting, per connection."""
    now = utcnow()
    per_connection: dict[str, dict] = {}

    def entry(ident: str) -> dict:
        return per_connection.setdefault(ident, {
            "events_unparsed": 0, "pending": 0, "due": 0, "paused": 0, "oldest_pending_age_seconds": 0.0})

    with db.session() as session:
        events = select(EventRow.connection_id, func.count()).where(EventRow.status == "received")
        transactions = select(
            TransactionRow.connection_id, TransactionRow.status, func.count(),
            func.sum(case((TransactionRow.next_attempt_at <= now, 1), else_=0)),
            func.min(TransactionRow.created_at),
        ).where(TransactionRow.status.in_(QUEUE_STATES))
        if connection_id:
            events = events.where(EventRow.connection_id == connection_id)
            transactions = transactions.where(TransactionRow.connection_id == connection_id)
        for ident, count in session.execute(events.group_by(EventRow.connection_id)):
            entry(ident)["events_unparsed"] = count
        grouped = transactions.group_by(TransactionRow.connection_id, TransactionRow.status)
        for ident, status, count, due, oldest in session.execute(grouped):
            figures = entry(ident)
            figures[status] = count
            if status == "pending":
                figures["due"] = int(due or 0)
                figures["oldest_pending_age_seconds"] = max(0.0, (now - oldest).total_seconds())
        jobs = [{"id": job.id, "total": job.total, "done": job.done, "failed": job.failed}
                for job in session.scalars(select(ReplayJobRow).where(ReplayJobRow.status == "running"))]
    if connection_id:
        entry(connection_id)
    return {"connections": per_connection, "replay_jobs": jobs}


class QueueCollector:
    """A prometheus_client collector over queue_figures, one scrape one read."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        figures = queue_figures(self.db)
        transactions = GaugeMetricFamily(
            "bridge_queue_transactions", "Transactions waiting, by connection and state "
            "(pending: not yet delivered; due: pending and due now; paused: held by a paused connection)",
            labels=["connection", "state"])
        unparsed = GaugeMetricFamily("bridge_queue_events_unparsed", "Stored events not yet parsed",
                                     labels=["connection"])
        oldest = GaugeMetricFamily("bridge_queue_oldest_pending_age_seconds",
                                   "Age of the oldest pending transaction", labels=["connection"])
        for ident, row in figures["connections"].items():
            for state in ("pending", "due", "paused"):
                transactions.add_metric([ident, state], row[state])
            unparsed.add_metric([ident], row["events_unparsed"])
            oldest.add_metric([ident], row["oldest_pending_age_seconds"])
        replay = GaugeMetricFamily("bridge_replay_job_events", "Events of running bulk replays, by state",
                                   labels=["job", "state"])
        for job in figures["replay_jobs"]:
            for state in ("total", "done", "failed"):
                replay.add_metric([str(job["id"]), state], job[state])
        return [transactions, unparsed, oldest, replay]


class LastEventAgeCollector:
    """`bridge_connection_last_event_age_seconds` per connection, read at scrape
    time in one session (absent for a connection with no event yet, or disabled)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        age = GaugeMetricFamily(
            "bridge_connection_last_event_age_seconds",
            "Seconds since the connection's last verified webhook event (absent: none yet)", labels=["connection"])
        now = utcnow()
        try:
            with self.db.session() as session:
                for ident in session.scalars(select(ConnectionRow.id).where(ConnectionRow.status != "disabled")
                                             .order_by(ConnectionRow.created_at)):
                    if (last := liveness.last_event_at(session, ident)) is not None:
                        age.add_metric([ident], (now - last).total_seconds())
        except SQLAlchemyError:
            pass  # /readyz reports the store; metrics still answer with what the process knows
        yield age
