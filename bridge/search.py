"""Finding events: the filters support staff search by, with a stable cursor.

Every filter is an index lookup: events by (status, received_at),
(connection_id, received_at) or vendor_event_id; transaction filters go through
the transactions' own indexes and the event link table.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, fields
from datetime import datetime, timezone

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import defer

from bridge.errors import BadFilter
from bridge.identity import normalize_email, normalize_phone
from bridge.store.tables import EventRow, EventTransactionRow, TransactionRow

STATUSES = ("received", "pending", "delivered", "skipped", "unmatched", "failed", "paused")
MAX_LIMIT = 1000



@dataclass(frozen=True)
class EventFilter:
    connection_id: str | None = None
    status: str | None = None
    vendor_event_id: str | None = None
    source_id: str | None = None  # payment / sale / check id
    email: str | None = None
    phone: str | None = None
    reference: str | None = None  # receipt number
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_strings(cls, values: dict[str, str | None]) -> "EventFilter":
        """From query-string or CLI values, with a clear error for each bad one."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(k for k, v in values.items() if v not in (None, "")) - known)
        if unknown:
            raise BadFilter(f"unknown filter {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        clean = {k: v.strip() for k, v in values.items() if v not in (None, "") and k in known}
        if clean.get("status") and clean["status"] not in STATUSES:
            raise BadFilter(f"status must be one of {', '.join(STATUSES)}")
        for name in ("since", "until"):
            if name in clean:
                clean[name] = parse_time(clean[name], name)
        if "email" in clean:
            clean["email"] = normalize_email(clean["email"]) or clean["email"].lower()
        if "phone" in clean:
            clean["phone"] = normalize_phone(clean["phone"], None) or clean["phone"]
        return cls(**clean)

    def as_dict(self) -> dict[str, str]:
        return {f.name: (v.isoformat() if isinstance(v, datetime) else v)
                for f in fields(self) if (v := getattr(self, f.name)) is not None}


def parse_time(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(f"{name} must be an ISO 8601 time such as 2026-12-01T09:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"e{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("e"):
            raise ValueError
        return int(raw[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadFilter("malformed cursor: pass back the next_cursor of the previous page") from None


def event_query(flt: EventFilter) -> Select:
    # A list never shows the raw request: leave the body and headers in the table.
    query = select(EventRow).options(defer(EventRow.body), defer(EventRow.headers))
    if flt.connection_id:
        query = query.where(EventRow.connection_id == flt.connection_id)
    if flt.status:
        query = query.where(EventRow.status == flt.status)
    if flt.vendor_event_id:
        query = query.where(EventRow.vendor_event_id == flt.vendor_event_id)
    if flt.since:
        query = query.where(EventRow.received_at >= flt.since)
    if flt.until:
        query = query.where(EventRow.received_at < flt.until)
    tx_conditions = [column == value for column, value in (
        (TransactionRow.source_id, flt.source_id), (TransactionRow.customer_email, flt.email),
        (TransactionRow.customer_phone, flt.phone), (TransactionRow.reference, flt.reference)) if value]
    if tx_conditions:
        query = query.where(exists(
            select(EventTransactionRow.event_id)
            .join(TransactionRow, TransactionRow.id == EventTransactionRow.transaction_id)
            .where(EventTransactionRow.event_id == EventRow.id, *tx_conditions)))
    return query


def page(session, flt: EventFilter, limit: int = 100, cursor: str | None = None):
    """Newest first. Returns (events, attempts by event id, next cursor or None)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadFilter(f"limit must be between 1 and {MAX_LIMIT}")
    query = event_query(flt)
    if cursor:
        query = query.where(EventRow.id < decode_cursor(cursor))
    events = list(session.scalars(query.order_by(EventRow.id.desc()).limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    attempts = dict(session.execute(
        select(EventTransactionRow.event_id, func.coalesce(func.sum(TransactionRow.attempts), 0))
        .join(TransactionRow, TransactionRow.id == EventTransactionRow.transaction_id)
        .where(EventTransactionRow.event_id.in_([e.id for e in events]))
        .group_by(EventTransactionRow.event_id)).all()) if events else {}
    return events, attempts, (encode_cursor(events[-1].id) if more else None)


def count(session, flt: EventFilter) -> int:
    return session.scalar(select(func.count()).select_from(event_query(flt).subquery()))
