"""An event's status follows its transactions'; decided here only."""

from __future__ import annotations

from itertools import groupby

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bridge.store.tables import EventRow, EventTransactionRow, TransactionRow

# The state a support engineer most needs to see wins.
PRIORITY = ("paused", "pending", "failed", "unmatched", "delivered", "skipped")


def event_state(transactions) -> tuple[str, str | None]:
    """From anything with a transaction's `status` and `reason`, in id order."""
    if not transactions:
        return "skipped", "no transactions"
    deciding = min(transactions, key=lambda row: PRIORITY.index(row.status))
    return deciding.status, deciding.reason


events, transactions, links = EventRow.__table__, TransactionRow.__table__, EventTransactionRow.__table__
LINKED_STATES = (
    select(transactions.c.status, transactions.c.reason)
    .join(links, links.c.transaction_id == transactions.c.id)
    .where(links.c.event_id == bindparam("event_id")).order_by(transactions.c.id))
# Each parsed event linked to the transactions (but the one just decided),
# its state beside each of its transactions'.
STATES_OF_LINKED_EVENTS = (
    select(events.c.id, events.c.status.label("event_status"), events.c.reason.label("event_reason"),
           transactions.c.status, transactions.c.reason)
    .join(links, links.c.event_id == events.c.id)
    .join(transactions, transactions.c.id == links.c.transaction_id)
    .where(events.c.id.in_(select(links.c.event_id).where(
               links.c.transaction_id.in_(bindparam("transaction_ids", expanding=True)),
               links.c.event_id != bindparam("decided"))),
           events.c.status != "received")  # unparsed: its own processing decides
    .order_by(events.c.id, transactions.c.id))
SET_EVENT_STATE = update(events).where(events.c.id == bindparam("event_id")).values(
    status=bindparam("new_status"), reason=bindparam("new_reason"))


def linked_states(session: Session, event_id: int):
    """(status, reason) of every transaction linked to the event, in id order."""
    session.flush()  # a Core statement does not autoflush the caller's changes
    return session.execute(LINKED_STATES, {"event_id": event_id}).all()


def refresh_events_of(session: Session, transaction_ids: list[int], decided: int | None = None) -> None:
    """Re-derive the status of every parsed event linked to these transactions
    (but `decided`, an event whose caller has just set it).

    One SELECT whatever the number of events, then an UPDATE only where a
    state changed: this runs after every delivery."""
    if not transaction_ids:
        return
    session.flush()  # the caller's changes count; a Core statement would not autoflush them
    rows = session.execute(STATES_OF_LINKED_EVENTS, {"transaction_ids": transaction_ids, "decided": decided or 0})
    for event_id, of_event in groupby(rows, key=lambda row: row.id):
        of_event = list(of_event)
        state = event_state(of_event)
        if state != (of_event[0].event_status, of_event[0].event_reason):
            session.execute(SET_EVENT_STATE, {"event_id": event_id, "new_status": state[0], "new_reason": state[1]})
