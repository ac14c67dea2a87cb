"""A connection's state: is its point of sale reaching the bridge, and is it
being let in? Derived in one function (`derive_state`) from what the store
already has, so ingest writes nothing extra:

- `last_event_at` is the newest webhook event stored for the connection
  (`ix_events_connection_id` walked backwards: one index lookup, whatever the
  size of the events table);
- `last_rejected_at` is kept by the same UPDATE that counts refusals
  (bridge.rejections), so a flood past the stored-row cap still moves it.

Documented in docs/go-live.md ("Connection states").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import rejections
from bridge.durations import parse_duration
from bridge.store import Database
from bridge.store.tables import ConnectionRow, EventRow, utcnow

STATES = ("waiting", "receiving", "quiet", "rejecting", "paused", "disabled")
DEFAULT_QUIET_AFTER = "24h"
# A refusal older than this no longer makes a connection `rejecting` (the
# window `rejected_24h` counts), so one bad request last week is not a state.
REJECTING_WINDOW = timedelta(hours=24)


def derive_state(*, status: str, last_event_at: datetime | None, last_rejected_at: datetime | None,
                 quiet_after_seconds: float, now: datetime) -> str:
    if status in ("disabled", "paused"):
        return status
    refused_since_last_event = last_rejected_at is not None and (
        last_event_at is None or last_rejected_at > last_event_at)
    if refused_since_last_event and now - last_rejected_at < REJECTING_WINDOW:
        return "rejecting"
    if last_event_at is None:
        return "waiting"
    if (now - last_event_at).total_seconds() > quiet_after_seconds:
        return "quiet"
    return "receiving"


def quiet_after_seconds(settings: dict) -> float:
    return parse_duration(settings.get("quiet_after") or DEFAULT_QUIET_AFTER)


def check_quiet_after(value: str) -> None:
    """ValueError with the reason unless `value` is a positive duration."""
    if parse_duration(value) <= 0:
        raise ValueError("quiet_after must be longer than 0 s")


def last_event_at(session: Session, connection_id: str) -> datetime | None:
    """When the newest verified webhook arrived. Test transactions
    (`source: test`) prove the core, not the POS, so they do not count."""
    # Ordered by the whole (connection_id, id) index: otherwise PostgreSQL may
    # walk the primary key backwards past every other connection's events,
    # which for a quiet connection is most of the table (bench/state.py).
    return session.scalar(select(EventRow.received_at).where(
        EventRow.connection_id == connection_id, EventRow.source == "webhook")
        .order_by(EventRow.connection_id.desc(), EventRow.id.desc()).limit(1))


def liveness(db: Database, row: ConnectionRow, now: datetime | None = None) -> dict:
    """`state`, `last_event_at` and the refusal fields, as every view shows them."""
    now = now or utcnow()
    refused = rejections.summary(db, row.id)
    with db.session() as session:
        last_event = last_event_at(session, row.id)
    state = derive_state(status=row.status, last_event_at=last_event, last_rejected_at=refused["last_rejected_at"],
                         quiet_after_seconds=quiet_after_seconds(row.settings or {}), now=now)
    return {"state": state, "last_event_at": last_event.isoformat() if last_event else None,
            "rejected_24h": refused["rejected_24h"], "last_rejection": refused["last_rejection"]}


def fix_for(state: str, row: ConnectionRow, view: dict, vendor_name: str) -> str | None:
    """One sentence saying what to do about a state, or None when there is nothing to do."""
    if state == "quiet":
        return (f"No sale has reached the bridge since {view['last_event_at']}: check that the webhook "
                f"subscription in {vendor_name} is still enabled and sends to {view['webhook_url']}, "
                f"then run `bridge connections check {row.id}`.")
    if state == "rejecting":
        reason = (view.get("last_rejection") or {}).get("reason", "its requests fail verification")
        return (f"{vendor_name} is sending, but the bridge refuses it ({reason}); "
                f"see `bridge connections rejections {row.id}`.")
    if state == "paused":
        if (row.status_reason or "").startswith("paused by"):
            return f"{row.status_reason}: resume it from the dashboard or POST /api/connections/{row.id}/resume."
        return (f"{row.status_reason or 'the loyalty core rejected the key'}: run "
                f"`bridge connections rotate-key {row.id} --target-key KEY` with a key the loyalty platform accepts.")
    if state == "waiting":
        return (f"Nothing has arrived yet: paste {view['webhook_url']} into {vendor_name} "
                f"(docs/merchants/{row.vendor}.md), then send a test sale.")
    return None
