"""Worker step 1: a stored raw event → canonical transactions with deliveries.

Parsing happens here, from the stored bytes, so a connector fixed tomorrow
lets support replay today's failures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from bridge import connections, receipts, registry
from bridge.contract import ConnectionContext, InboundRequest
from bridge.delivery import Claimed, Deliverer
from bridge.errors import EnrichmentUnavailable, PayloadError, SkipTransaction
from bridge.logs import add_log_context, log_context
from bridge.metrics import EVENTS_PROCESSED
from bridge.model import Customer, Kind, Transaction
from bridge.retry import retry_delay
from bridge.states import event_state, linked_states, refresh_events_of
from bridge.store import Database
from bridge.store.inserts import insert_or_nothing
from bridge.store.tables import EventRow, EventTransactionRow, TransactionRow, utcnow

log = logging.getLogger("bridge.pipeline")
LEASE = timedelta(minutes=2)


# The hot statements are built once, with bound parameters: built per call,
# SQLAlchemy spent more CPU coercing and cache-keying them than running them.
events, transactions = EventRow.__table__, TransactionRow.__table__
CLAIM_EVENT = (
    update(events)
    .where(events.c.id == bindparam("event_id"), events.c.status == "received",
           events.c.lease_until.is_(None) | (events.c.lease_until < bindparam("now")),
           events.c.next_attempt_at.is_(None) | (events.c.next_attempt_at <= bindparam("now")))
    .values(lease_until=bindparam("new_lease"), attempts=events.c.attempts + 1)
    .returning(events.c.connection_id, events.c.body, events.c.headers, events.c.content_type,
               events.c.remote_addr, events.c.received_at, events.c.source, events.c.attempts,
               events.c.replay_requested))
SETTLED_KEYS = select(transactions.c.idempotency_key).where(
    transactions.c.idempotency_key.in_(bindparam("keys", expanding=True)),
    transactions.c.status.in_(("delivered", "skipped")))
ROWS_OF_SALE = (
    select(TransactionRow).where(
        TransactionRow.connection_id == bindparam("connection_id"), TransactionRow.source_id == bindparam("source_id"),
        TransactionRow.vendor == bindparam("vendor"))
    .order_by(TransactionRow.id).with_for_update())
DECIDE_EVENT = update(events).where(events.c.id == bindparam("event_id")).values(
    status=bindparam("new_status"), reason=bindparam("new_reason"), lease_until=None, replay_requested=False,
    event_type=func.coalesce(bindparam("new_event_type", type_=events.c.event_type.type), events.c.event_type))


def claim_event(session: Session, event_id: int):
    """Compare-and-set: only one worker processes an event at a time. The
    claim holds once the caller's transaction commits. Returns the columns
    parsing needs (None when not claimed): claim and read are one statement."""
    now = utcnow()
    return session.execute(CLAIM_EVENT, {"event_id": event_id, "now": now, "new_lease": now + LEASE}).first()


@dataclass
class Due:
    """What the caller delivers now (or wakes a worker for): transactions by
    id, and those stored already claimed for the caller's deliverer."""

    transaction_ids: list[int] = field(default_factory=list)
    claimed: list[Claimed] = field(default_factory=list)


def process_event(db: Database, public_url: str, event_id: int, deliverer: Deliverer | None = None) -> Due:
    """Parse the event and store its transactions. With `deliverer`, a new
    transaction due now is stored under that deliverer's claim and read for
    it in the same commit, which saves the claim a transaction of its own."""
    with log_context(event_id=event_id):
        return _process_event(db, public_url, event_id, deliverer)


def _process_event(db: Database, public_url: str, event_id: int, deliverer: Deliverer | None) -> Due:
    # Claim, read, parse and the settled check in one transaction: parsing is
    # CPU only, and a failed parse is recorded in the same commit.
    with db.session() as session:
        event = claim_event(session, event_id)
        if event is None:
            return Due()
        add_log_context(connection_id=event.connection_id)
        row = connections.read(session, event.connection_id)
        context = connections.context(db, row)
        connector = registry.get(context.vendor)
        inbound = InboundRequest(body=event.body, headers=event.headers,
                                 url=connections.webhook_url(public_url, row.id),
                                 content_type=event.content_type, remote_addr=event.remote_addr,
                                 received_at=event.received_at, source=event.source)
        try:
            parsed = connector.parse(inbound, context)
        except PayloadError as error:
            _decide(session, event_id, "failed", f"cannot read the {connector.display_name} payload: {error.message}")
            EVENTS_PROCESSED.labels(context.vendor, "payload_error").inc()
            return Due()
        except Exception as error:  # a connector bug: keep the event, say so, replay after the fix
            log.exception("connector %s failed on event %s", context.vendor, event_id)
            _decide(session, event_id, "failed", f"connector error: {type(error).__name__}: {error}")
            EVENTS_PROCESSED.labels(context.vendor, "connector_error").inc()
            return Due()
        if parsed.skip_reason:
            _decide(session, event_id, "skipped", parsed.skip_reason, event_type=parsed.event_type)
            EVENTS_PROCESSED.labels(context.vendor, "skipped").inc()
            return Due()
        settled = _settled_keys(session, [tx.idempotency_key for tx in parsed.transactions])
    transactions, skipped = [], []
    try:  # vendor API calls: outside any database transaction
        for tx in parsed.transactions:
            if tx.idempotency_key in settled:
                # Already awarded (or skipped for good): no vendor API call can change that.
                transactions.append(tx)
                continue
            try:
                transactions.append(connector.enrich(tx, context))
            except SkipTransaction as skip:
                skipped.append(skip.reason)
    except EnrichmentUnavailable as error:
        _retry_later(db, event_id, event.attempts, str(error), error.retry_after)
        return Due()
    due, earlier = Due(), []  # earlier: transactions other events may link to
    claim = deliverer.lease_for_new_row() if deliverer else {}
    with db.session() as session:
        for tx in transactions:
            stored = _store(session, event_id, tx, context, event.replay_requested, claim)
            if isinstance(stored, str):
                skipped.append(stored)
                continue
            tx_id, is_due, created = stored
            if is_due and created and claim:
                due.claimed.append(deliverer.read_claimed(session, tx_id))
            elif is_due:
                due.transaction_ids.append(tx_id)
            if not created:
                earlier.append(tx_id)
        linked = linked_states(session, event_id)
        status, reason = event_state(linked) if linked else ("skipped", "; ".join(skipped) or "no transactions")
        _decide(session, event_id, status, reason, parsed.event_type)
        refresh_events_of(session, earlier, decided=event_id)
    EVENTS_PROCESSED.labels(context.vendor, "parsed").inc()
    return due


def _store(session: Session, event_id: int, tx: Transaction, context: ConnectionContext,
           replay: bool, claim: dict) -> tuple[int, bool, bool] | str:
    """Store the transaction, or merge what this event adds to the one we have.

    Returns (id, due for delivery now, created by this event), or why it was
    left alone. A later event for the same sale never re-awards; it may bring
    the customer an earlier one lacked (Square attaches customer_id
    asynchronously). A replay rewrites an undelivered transaction from
    today's parse and sends it again. `claim`: columns a new row due now is
    stored with (a deliverer's lease).

    One locking read of every row of the sale answers all three questions:
    is this event stale, is the sale already stored, was it voided before.
    """
    tx = _with_refund_identity(session, tx, context)
    sale = _rows_of_sale(session, tx)
    if stale := _stale(tx, sale):
        return stale
    existing = _stored_as(tx, sale)
    if existing is None:
        values = _new_values(tx, context)
        if tx.kind == Kind.SALE and any(row.kind == Kind.VOID.value for row in sale):
            values.update(status="skipped", reason=f"{tx.source_id} was voided before it was awarded")
        if values["status"] == "pending":
            values.update(claim)
        tx_id = insert_or_nothing(session, TransactionRow, values, returning="id").scalar()
        if tx_id is not None:
            _link(session, event_id, tx_id)
            return tx_id, values["status"] == "pending", True
        existing = _stored_as(tx, _rows_of_sale(session, tx))  # another worker stored it a moment ago
    _link(session, event_id, existing.id)
    return existing.id, _merge(existing, tx, context, event_id, replay), False


def _merge(existing: TransactionRow, tx: Transaction, context: ConnectionContext, event_id: int,
           replay: bool) -> bool:
    """What a later event (or a replay) changes on a stored transaction;
    True when that makes it due for delivery now."""
    if tx.source_version is not None:
        existing.source_version = max(existing.source_version or 0, tx.source_version)
    if existing.status == "delivered":
        return False
    if replay:
        return _refresh_for_replay(existing, tx, context, event_id)
    if existing.status == "skipped":
        return False
    before = _customer_of(existing)
    merged = before.merged_with(tx.customer)
    _set_customer(existing, merged)
    if existing.status in ("unmatched", "failed") and _brings_identity(before, merged):
        existing.status, existing.next_attempt_at = "pending", utcnow()
        existing.lease_until, existing.enqueued_at = None, utcnow()
        existing.reason = f"new customer details from event {event_id}"
        return True
    return False


def _brings_identity(before: Customer, merged: Customer) -> bool:
    """A late identity: something a core can look the customer up by that the
    sale did not have (a name, or a POS customer id alone, changes nothing)."""
    return merged.has_identity and identity_of(merged) != identity_of(before)


def identity_of(customer: Customer) -> tuple:
    return customer.email, customer.phone, customer.barcode, customer.loyalty_id


def _refresh_for_replay(row: TransactionRow, tx: Transaction, context: ConnectionContext,
                        event_id: int) -> bool:
    fresh = _new_values(tx, context)
    for column in ("amount_minor", "currency", "occurred_at", "location_id", "location_name",
                   "reference", "refund_of", "receipt_key", "local_date", "receipt_total_minor", "line_items", "extra"):
        setattr(row, column, fresh[column])
    _set_customer(row, tx.customer.merged_with(_customer_of(row)))
    row.status, row.reason = fresh["status"], fresh["reason"] or f"replayed (event {event_id})"
    row.next_attempt_at, row.lease_until, row.enqueued_at = utcnow(), None, utcnow()
    row.first_attempt_at = None  # a replay gets a fresh retry budget
    return row.status == "pending"


def _rows_of_sale(session: Session, tx: Transaction) -> list[TransactionRow]:
    """Every stored transaction of the vendor's object (its sale, refunds,
    void), locked for this unit of work."""
    return list(session.scalars(ROWS_OF_SALE, {"connection_id": tx.connection_id, "source_id": tx.source_id,
                                               "vendor": tx.vendor}))


def _stored_as(tx: Transaction, sale: list[TransactionRow]) -> TransactionRow | None:
    return next((row for row in sale if row.idempotency_key == tx.idempotency_key), None)


def _stale(tx: Transaction, sale: list[TransactionRow]) -> str | None:
    """An event older than one already applied must never move a sale backwards.

    Versions belong to the vendor's object, so they are compared across kinds:
    a late CLOSED version after the VOIDED one is stale for the sale too.
    """
    seen = max((row.source_version for row in sale if row.source_version is not None), default=None)
    if tx.source_version is not None and seen is not None and tx.source_version < seen:
        return f"stale: version {tx.source_version} of {tx.source_id}, version {seen} already applied"
    return None


def _settled_keys(session: Session, keys: list[str]) -> set[str]:
    return set(session.scalars(SETTLED_KEYS, {"keys": keys})) if keys else set()


def _link(session: Session, event_id: int, transaction_id: int) -> None:
    insert_or_nothing(session, EventTransactionRow, {"event_id": event_id, "transaction_id": transaction_id})


def _with_refund_identity(session: Session, tx: Transaction, context: ConnectionContext) -> Transaction:
    """A refund or void reaches the customer through the sale it reverses."""
    if tx.kind == Kind.SALE or not tx.refund_of or tx.customer.has_identity:
        return tx
    sale = session.scalar(select(TransactionRow).where(
        TransactionRow.connection_id == context.id, TransactionRow.source_id == tx.refund_of,
        TransactionRow.kind == Kind.SALE.value))
    return tx if sale is None else tx.with_customer(tx.customer.merged_with(_customer_of(sale)))


def _new_values(tx: Transaction, context: ConnectionContext) -> dict:
    now = utcnow()
    status, reason = "pending", None
    if tx.kind != Kind.SALE and context.setting("refunds", "skip") != "negative":
        status = "skipped"
        reason = (f"{tx.kind.value} recorded; the target has no reversal API "
                  "(set refunds=negative to post it as a negative amount)")
    return dict(
        idempotency_key=tx.idempotency_key, connection_id=tx.connection_id, vendor=tx.vendor,
        source_id=tx.source_id, kind=tx.kind.value, amount_minor=tx.amount_minor, currency=tx.currency,
        occurred_at=tx.occurred_at, location_id=tx.location.id, location_name=tx.location.name,
        reference=tx.reference, refund_of=tx.refund_of, source_version=tx.source_version,
        receipt_key=receipts.receipt_key(tx.reference),
        local_date=receipts.local_date(tx, context.setting("timezone")),
        receipt_total_minor=receipts.receipt_total(tx),
        line_items=[item.__dict__ for item in tx.line_items],
        extra={k: v for k, v in dict(tx.metadata).items() if v is not None},
        status=status, reason=reason, next_attempt_at=now, enqueued_at=now, created_at=now, updated_at=now,
        **_customer_values(tx.customer),
    )


def _customer_of(row: TransactionRow) -> Customer:
    return Customer(email=row.customer_email, phone=row.customer_phone, barcode=row.customer_barcode,
                    vendor_customer_id=row.vendor_customer_id, name=row.customer_name,
                    loyalty_id=row.loyalty_customer_id)


def _customer_values(customer: Customer) -> dict:
    return dict(customer_email=customer.email, customer_phone=customer.phone, customer_barcode=customer.barcode,
                vendor_customer_id=customer.vendor_customer_id, customer_name=customer.name,
                loyalty_customer_id=customer.loyalty_id)


def _set_customer(row: TransactionRow, customer: Customer) -> None:
    for column, value in _customer_values(customer).items():
        setattr(row, column, value)


def _decide(session: Session, event_id: int, status: str, reason: str, event_type: str | None = None) -> None:
    session.execute(DECIDE_EVENT, {"event_id": event_id, "new_status": status, "new_reason": reason,
                                   "new_event_type": event_type})


def _retry_later(db: Database, event_id: int, attempts: int, reason: str,
                 retry_after: float | None = None) -> None:
    when = utcnow() + timedelta(seconds=retry_delay(attempts, retry_after))
    with db.session() as session:
        session.execute(update(EventRow).where(EventRow.id == event_id).values(
            reason=f"{reason}; trying again", next_attempt_at=when, lease_until=None))
