"""An event's status follows its transactions'; decided here only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from bridge.store.tables import EventRow, EventTransactionRow, TransactionRow

# The state a support engineer most needs to see wins.
PRIORITY = ("paused", "pending", "failed", "unmatched", "delivered", "skipped")


def event_state(transactions: list[TransactionRow]) -> tuple[str, str | None]:
    if not transactions:
        return "skipped", "no transactions"
    deciding = min(transactions, key=lambda row: PRIORITY.index(row.status))
    return deciding.status, deciding.reason


def refresh_events_of(session: Session, transaction_ids: list[int], decided: int | None = None) -> None:
    """Re-derive the status of every parsed event linked to these transactions
    (but `decided`, an event whose caller has just set it)."""
    if not transaction_ids:
        return
    linked = select(EventTransactionRow.event_id).where(EventTransactionRow.transaction_id.in_(transaction_ids))
    if decided is not None:
        linked = linked.where(EventTransactionRow.event_id != decided)
    # One statement for the events; the raw body is the biggest column and the status never needs it.
    events = select(EventRow).where(EventRow.id.in_(linked)).options(defer(EventRow.body))
    for event in session.scalars(events):
        if event.status == "received":
            continue  # not parsed yet: its own processing decides
        event.status, event.reason = event_state(event.transactions)
