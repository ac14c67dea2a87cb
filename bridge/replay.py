"""Replays: one event, or every event matching a filter, as an audited action.

A replay re-parses the stored raw body with today's connector code and sends
undelivered transactions again under their same idempotency keys, so it can
never award twice. Earlier attempts stay in the history.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bridge.dispatch import Dispatcher
from bridge.pipeline import process_event
from bridge.search import EventFilter, event_query
from bridge.store import Database
from bridge.store.tables import (AuditRow, EventRow, EventTransactionRow, ReplayItemRow, ReplayJobRow,
                                 TransactionRow, utcnow)

CHUNK = 50  # events per job step: live work interleaves between steps
JOB_LEASE = timedelta(minutes=5)
SETTLED_OK = {"delivered", "skipped", "pending"}  # pending: queued for its normal retries


class ReplayError(Exception):
    pass


def request_replay(db: Database, event_ids: list[int], actor: str) -> list[int]:
    """Mark events for replay; returns the ids that exist (to be woken)."""
    now = utcnow()
    with db.session() as session:
        # A purged event has no raw request left to parse (BRIDGE_RETENTION).
        # A go-live test has no vendor body to re-parse: it is sent once, by `connections test`.
        found = list(session.scalars(select(EventRow.id).where(
            EventRow.id.in_(event_ids), EventRow.body_purged_at.is_(None), EventRow.source != "test")))
        if found:
            session.execute(update(EventRow).where(EventRow.id.in_(found)).values(
                status="received", replay_requested=True, next_attempt_at=now, lease_until=None,
                enqueued_at=now, reason=f"replay requested by {actor}"))
            session.add_all([AuditRow(actor=actor, action="replay", subject_kind="event",
                                      subject_id=str(event_id), at=now) for event_id in found])
    return found


def replay(db: Database, dispatcher: Dispatcher, event_ids: list[int], actor: str) -> list[int]:
    found = request_replay(db, event_ids, actor)
    for event_id in found:
        dispatcher.process_event(event_id)
    return found


def start_job(db: Database, flt: EventFilter, actor: str) -> ReplayJobRow:
    with db.session() as session:
        ids = list(session.scalars(event_query(flt).with_only_columns(EventRow.id)
                                   .where(EventRow.body_purged_at.is_(None), EventRow.source != "test")
                                   .order_by(EventRow.id)))
        job = ReplayJobRow(filters=flt.as_dict(), status="running" if ids else "finished", total=len(ids),
                           created_by=actor, created_at=utcnow(), finished_at=None if ids else utcnow())
        session.add(job)
        session.flush()
        session.add_all([ReplayItemRow(job_id=job.id, event_id=event_id) for event_id in ids])
        session.add(AuditRow(actor=actor, action="bulk_replay", subject_kind="replay_job",
                             subject_id=str(job.id), detail={"filters": flt.as_dict(), "total": len(ids)}))
        return job


def cancel_job(db: Database, job_id: int, actor: str) -> ReplayJobRow:
    with db.session() as session:
        job = session.get(ReplayJobRow, job_id)
        if job is None:
            raise ReplayError(f"no replay job {job_id}")
        if job.status == "running":
            job.status, job.finished_at = "cancelled", utcnow()
            session.execute(update(ReplayItemRow).where(
                ReplayItemRow.job_id == job_id, ReplayItemRow.state == "pending").values(state="cancelled"))
            session.add(AuditRow(actor=actor, action="cancel_replay", subject_kind="replay_job",
                                 subject_id=str(job_id)))
        return job


def job_view(job: ReplayJobRow) -> dict:
    remaining = max(job.total - job.done - job.failed, 0) if job.status == "running" else 0
    return {"id": job.id, "status": job.status, "filters": job.filters, "total": job.total,
            "done": job.done, "failed": job.failed, "remaining": remaining,
            "cancelled": job.total - job.done - job.failed if job.status == "cancelled" else 0,
            "created_by": job.created_by, "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}


def run_job_step(db: Database, work, job_id: int) -> bool:
    """Replay the next chunk of a job, inline in this worker. True: more to do.

    Each event is replayed whole (parse, then deliver its due transactions)
    before the next; a cancel takes effect between events, so none is left
    half-done.
    """
    now = utcnow()
    with db.session() as session:
        claimed = session.execute(update(ReplayJobRow).where(
            ReplayJobRow.id == job_id, ReplayJobRow.status == "running",
            (ReplayJobRow.lease_until.is_(None)) | (ReplayJobRow.lease_until < now)
        ).values(lease_until=now + JOB_LEASE)).rowcount
        if not claimed:
            return False
        job = session.get(ReplayJobRow, job_id)
        actor = job.created_by
        batch = list(session.scalars(select(ReplayItemRow.event_id).where(
            ReplayItemRow.job_id == job_id, ReplayItemRow.state == "pending")
            .order_by(ReplayItemRow.event_id).limit(CHUNK)))
    for event_id in batch:
        with db.session() as session:
            if session.get(ReplayJobRow, job_id).status != "running":
                break
        status = replay_inline(db, work, event_id, f"{actor} (replay job {job_id})")
        ok = status in SETTLED_OK
        with db.session() as session:
            item = session.get(ReplayItemRow, (job_id, event_id))
            item.state, item.result = ("done" if ok else "failed"), status
            session.execute(update(ReplayJobRow).where(ReplayJobRow.id == job_id).values(
                done=ReplayJobRow.done + (1 if ok else 0), failed=ReplayJobRow.failed + (0 if ok else 1)))
    with db.session() as session:
        job = session.get(ReplayJobRow, job_id)
        left = session.scalar(select(ReplayItemRow.event_id).where(
            ReplayItemRow.job_id == job_id, ReplayItemRow.state == "pending").limit(1))
        job.lease_until = None
        if job.status == "running" and left is None:
            job.status, job.finished_at = "finished", utcnow()
        return job.status == "running"


def replay_inline(db: Database, work, event_id: int, actor: str) -> str:
    """Parse and deliver here, so the job reads the event's real outcome: a
    delivery woken for another worker could still be under way when we look."""
    request_replay(db, [event_id], actor)
    process_event(db, work.config.public_url, event_id)
    with db.session() as session:
        due = list(session.scalars(select(TransactionRow.id).join(
            EventTransactionRow, EventTransactionRow.transaction_id == TransactionRow.id).where(
            EventTransactionRow.event_id == event_id, TransactionRow.status == "pending")))
    for transaction_id in due:
        work.deliverer.deliver(transaction_id)
    with db.session() as session:
        return session.get(EventRow, event_id).status
