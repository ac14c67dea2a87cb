"""Requests that failed verification: answered 401, trusted for nothing, and
recorded so support can see why a POS "sent it but the bridge said 401".

Recording must not become an attack surface: at most KEEP_PER_CONNECTION rows
per connection and STORE_PER_HOUR new rows per connection and hour are kept
(older ones dropped first, none older than MAX_AGE); beyond that a request is
only counted. Bodies are kept as a short excerpt and a SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bridge.contract import InboundRequest
from bridge.inbox import stored_headers
from bridge.store import Database
from bridge.store.tables import RejectionCountRow, RejectionRow, utcnow
from bridge.views import masked_headers

log = logging.getLogger("bridge.rejections")
KEEP_PER_CONNECTION = 200
STORE_PER_HOUR = 50
MAX_AGE = timedelta(days=7)
EXCERPT_BYTES = 256


def record(db: Database, connection_id: str, request: InboundRequest, reason: str) -> None:
    """Never raises: a store problem must not turn a 401 into something else."""
    try:
        _record(db, connection_id, request, reason)
    except SQLAlchemyError as error:
        log.warning("could not record a rejection for %s: %s", connection_id, type(error).__name__)


def _record(db: Database, connection_id: str, request: InboundRequest, reason: str) -> None:
    now = utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with db.session() as session:
        counted = _count(session, connection_id, hour, now)
        if counted is None:
            try:
                with session.begin_nested():
                    session.add(RejectionCountRow(connection_id=connection_id, hour=hour, count=1, last_at=now))
                counted = 1
            except IntegrityError:  # another request made this hour's row first
                counted = _count(session, connection_id, hour, now)
        if counted > STORE_PER_HOUR:
            return  # a flood: the hour's share is stored, the rest is only counted (no further query)
        stored_this_hour = session.scalar(select(func.count()).select_from(RejectionRow).where(
            RejectionRow.connection_id == connection_id, RejectionRow.at >= hour))
        if stored_this_hour >= STORE_PER_HOUR:
            return
        session.add(RejectionRow(
            connection_id=connection_id, at=now, remote_addr=request.remote_addr, reason=reason,
            headers=masked_headers(stored_headers(request.headers)), body_size=len(request.body),
            body_sha256=hashlib.sha256(request.body).hexdigest(),
            body_excerpt=request.body[:EXCERPT_BYTES].decode("utf-8", errors="replace")))
        _prune(session, connection_id, now)


def _count(session, connection_id: str, hour, now) -> int | None:
    """Count one more refusal in the hour's row; its new count, or None when the row is not there yet."""
    return session.execute(update(RejectionCountRow).where(
        RejectionCountRow.connection_id == connection_id, RejectionCountRow.hour == hour
    ).values(count=RejectionCountRow.count + 1, last_at=now).returning(RejectionCountRow.count)).scalar()


def _prune(session, connection_id: str, now) -> None:
    session.execute(delete(RejectionRow).where(
        RejectionRow.connection_id == connection_id, RejectionRow.at < now - MAX_AGE))
    cutoff = session.scalar(select(RejectionRow.id).where(RejectionRow.connection_id == connection_id)
                            .order_by(RejectionRow.id.desc()).offset(KEEP_PER_CONNECTION).limit(1))
    if cutoff is not None:
        session.execute(delete(RejectionRow).where(
            RejectionRow.connection_id == connection_id, RejectionRow.id <= cutoff))


def summary(db: Database, connection_id: str) -> dict:
    """`rejected_24h` (every refused request, stored or only counted), the last
    one stored, and `last_rejected_at` (the latest refusal, stored or only counted)."""
    since = (utcnow() - timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
    with db.session() as session:
        # Hour rows older than a day are outside the count, but still carry the latest refusal.
        count, last_at = session.execute(select(
            func.coalesce(func.sum(RejectionCountRow.count).filter(RejectionCountRow.hour >= since), 0),
            func.max(RejectionCountRow.last_at),
        ).where(RejectionCountRow.connection_id == connection_id)).one()
        last = session.scalars(select(RejectionRow).where(RejectionRow.connection_id == connection_id)
                               .order_by(RejectionRow.id.desc()).limit(1)).first()
    return {"rejected_24h": int(count), "last_rejected_at": last_at,
            "last_rejection": None if last is None else {"at": last.at.isoformat(), "reason": last.reason}}


def recent(db: Database, connection_id: str, limit: int = 50) -> list[dict]:
    with db.session() as session:
        rows = session.scalars(select(RejectionRow).where(RejectionRow.connection_id == connection_id)
                               .order_by(RejectionRow.id.desc()).limit(limit))
        return [{"id": r.id, "at": r.at.isoformat(), "remote_addr": r.remote_addr, "reason": r.reason,
                 "headers": r.headers, "body_size": r.body_size, "body_sha256": r.body_sha256,
                 "body_excerpt": r.body_excerpt} for r in rows]
