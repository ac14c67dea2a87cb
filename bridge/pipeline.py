"""Worker step 1: a stored raw event → canonical transactions with deliveries.

Parsing happens here, from the stored bytes, so a connector fixed tomorrow
lets support replay today's failures.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from bridge import connections, receipts, registry
from bridge.contract import ConnectionContext, InboundRequest
from bridge.errors import EnrichmentUnavailable, PayloadError, SkipTransaction
from bridge.logs import add_log_context, log_context
from bridge.metrics import EVENTS_PROCESSED
from bridge.model import Customer, Kind, Transaction
from bridge.retry import retry_delay
from bridge.states import event_state, refresh_events_of
from bridge.store import Database
from bridge.store.tables import EventRow, EventTransactionRow, TransactionRow, utcnow

log = logging.getLogger("bridge.pipeline")
LEASE = timedelta(minutes=2)


def claim_event(session: Session, event_id: int) -> bool:
    """Compare-and-set: only one worker processes an event at a time. The
    claim holds once the caller's transaction commits."""
    now = utcnow()
    claimed = session.execute(
        update(EventRow)
        .where(EventRow.id == event_id, EventRow.status == "received",
               (EventRow.lease_until.is_(None)) | (EventRow.lease_until < now),
               (EventRow.next_attempt_at.is_(None)) | (EventRow.next_attempt_at <= now))
        .values(lease_until=now + LEASE, attempts=EventRow.attempts + 1)
    ).rowcount
    return claimed == 1


def process_event(db: Database, public_url: str, event_id: int) -> list[int]:
    """Parse the event and store its transactions; returns the ids of those
    due for delivery now, which the caller delivers (or wakes a worker for)."""
    with log_context(event_id=event_id):
        return _process_event(db, public_url, event_id)


def _process_event(db: Database, public_url: str, event_id: int) -> list[int]:
    with db.session() as session:  # claim and read in one round of the database
        if not claim_event(session, event_id):
            return []
        event = session.get(EventRow, event_id)
        add_log_context(connection_id=event.connection_id)
        row = connections.get(session, event.connection_id)
        context = connections.context(db, row)
        inbound = InboundRequest(body=event.body, headers=event.headers,
                                 url=connections.webhook_url(public_url, row.id),
                                 content_type=event.content_type, remote_addr=event.remote_addr,
                                 received_at=event.received_at, source=event.source)
        attempts, replay = event.attempts, event.replay_requested
    connector = registry.get(context.vendor)
    try:
        parsed = connector.parse(inbound, context)
    except PayloadError as error:
        _finish(db, event_id, "failed", f"cannot read the {connector.display_name} payload: {error.message}")
        EVENTS_PROCESSED.labels(context.vendor, "payload_error").inc()
        return []
    except Exception as error:  # a connector bug: keep the event, say so, replay after the fix
        log.exception("connector %s failed on event %s", context.vendor, event_id)
        _finish(db, event_id, "failed", f"connector error: {type(error).__name__}: {error}")
        EVENTS_PROCESSED.labels(context.vendor, "connector_error").inc()
        return []
    if parsed.skip_reason:
        _finish(db, event_id, "skipped", parsed.skip_reason, event_type=parsed.event_type)
        EVENTS_PROCESSED.labels(context.vendor, "skipped").inc()
        return []
    transactions, skipped = [], []
    settled = _settled_keys(db, [tx.idempotency_key for tx in parsed.transactions])
    try:
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
        _retry_later(db, event_id, attempts, str(error), error.retry_after)
        return []
    with db.session() as session:
        event = session.get(EventRow, event_id, options=[defer(EventRow.body)])  # read once, above
        event.event_type = parsed.event_type
        due = []
        for tx in transactions:
            stale = _stale(session, tx)
            if stale:
                skipped.append(stale)
            else:
                due.append(_upsert(session, event, tx, context, replay))
        session.flush()
        if event.transactions:
            event.status, event.reason = event_state(list(event.transactions))
        else:
            event.status, event.reason = "skipped", "; ".join(skipped) or "no transactions"
        event.lease_until, event.replay_requested = None, False
        refresh_events_of(session, [tx.id for tx in event.transactions], decided=event_id)
        due_ids = [tx_id for tx_id in due if tx_id is not None]
    EVENTS_PROCESSED.labels(context.vendor, "parsed").inc()
    return due_ids


def _upsert(session: Session, event: EventRow, tx: Transaction, context: ConnectionContext,
            replay: bool = False) -> int | None:
    """Store the transaction, or merge what this event adds to the one we have.

    Returns the id when the transaction is due for delivery now. A later event
    for the same sale never re-awards; it may bring the customer an earlier
    one lacked (Square attaches customer_id asynchronously). A replay rewrites
    an undelivered transaction from today's parse and sends it again.
    """
    tx = _with_refund_identity(session, tx, context)
    existing = session.scalar(select(TransactionRow).where(
        TransactionRow.idempotency_key == tx.idempotency_key).with_for_update())
    if existing is None:
        row = _new_row(tx, context)
        if _voided_before_award(session, tx):
            row.status, row.reason = "skipped", f"{tx.source_id} was voided before it was awarded"
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another worker stored the same sale a moment ago
            existing = session.scalar(select(TransactionRow).where(
                TransactionRow.idempotency_key == tx.idempotency_key).with_for_update())
        else:
            session.add(EventTransactionRow(event_id=event.id, transaction_id=row.id))
            return row.id if row.status == "pending" else None
    _link(session, event.id, existing.id)
    if tx.source_version is not None:
        existing.source_version = max(existing.source_version or 0, tx.source_version)
    if existing.status == "delivered":
        return None
    if replay:
        return _refresh_for_replay(existing, tx, context, event.id)
    if existing.status == "skipped":
        return None
    before = _customer_of(existing)
    merged = before.merged_with(tx.customer)
    _set_customer(existing, merged)
    if existing.status in ("unmatched", "failed") and _brings_identity(before, merged):
        existing.status, existing.next_attempt_at = "pending", utcnow()
        existing.lease_until, existing.enqueued_at = None, utcnow()
        existing.reason = f"new customer details from event {event.id}"
        return existing.id
    return None


def _brings_identity(before: Customer, merged: Customer) -> bool:
    """A late identity: something a core can look the customer up by that the
    sale did not have (a name, or a POS customer id alone, changes nothing)."""
    return merged.has_identity and identity_of(merged) != identity_of(before)


def identity_of(customer: Customer) -> tuple:
    return customer.email, customer.phone, customer.barcode, customer.loyalty_id


def _refresh_for_replay(row: TransactionRow, tx: Transaction, context: ConnectionContext,
                        event_id: int) -> int | None:
    fresh = _new_row(tx, context)
    for column in ("amount_minor", "currency", "occurred_at", "location_id", "location_name",
                   "reference", "refund_of", "receipt_key", "local_date", "receipt_total_minor", "line_items", "extra"):
        setattr(row, column, getattr(fresh, column))
    _set_customer(row, tx.customer.merged_with(_customer_of(row)))
    row.status, row.reason = fresh.status, fresh.reason or f"replayed (event {event_id})"
    row.next_attempt_at, row.lease_until, row.enqueued_at = utcnow(), None, utcnow()
    row.first_attempt_at = None  # a replay gets a fresh retry budget
    return row.id if row.status == "pending" else None


def _stale(session: Session, tx: Transaction) -> str | None:
    """An event older than one already applied must never move a sale backwards.

    Versions belong to the vendor's object, so they are compared across kinds:
    a late CLOSED version after the VOIDED one is stale for the sale too.
    """
    if tx.source_version is None:
        return None
    seen = session.scalar(select(func.max(TransactionRow.source_version)).where(
        TransactionRow.connection_id == tx.connection_id, TransactionRow.vendor == tx.vendor,
        TransactionRow.source_id == tx.source_id))
    if seen is not None and tx.source_version < seen:
        return f"stale: version {tx.source_version} of {tx.source_id}, version {seen} already applied"
    return None


def _settled_keys(db: Database, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    with db.session() as session:
        return set(session.scalars(select(TransactionRow.idempotency_key).where(
            TransactionRow.idempotency_key.in_(keys), TransactionRow.status.in_(("delivered", "skipped")))))


def _voided_before_award(session: Session, tx: Transaction) -> bool:
    """A sale whose void is already stored must not award when it arrives late."""
    return tx.kind == Kind.SALE and session.scalar(select(TransactionRow.id).where(
        TransactionRow.connection_id == tx.connection_id, TransactionRow.vendor == tx.vendor,
        TransactionRow.source_id == tx.source_id, TransactionRow.kind == Kind.VOID.value).limit(1)) is not None


def _link(session: Session, event_id: int, transaction_id: int) -> None:
    if session.get(EventTransactionRow, (event_id, transaction_id)) is None:
        session.add(EventTransactionRow(event_id=event_id, transaction_id=transaction_id))


def _with_refund_identity(session: Session, tx: Transaction, context: ConnectionContext) -> Transaction:
    """A refund or void reaches the customer through the sale it reverses."""
    if tx.kind == Kind.SALE or not tx.refund_of or tx.customer.has_identity:
        return tx
    sale = session.scalar(select(TransactionRow).where(
        TransactionRow.connection_id == context.id, TransactionRow.source_id == tx.refund_of,
        TransactionRow.kind == Kind.SALE.value))
    return tx if sale is None else tx.with_customer(tx.customer.merged_with(_customer_of(sale)))


def _new_row(tx: Transaction, context: ConnectionContext) -> TransactionRow:
    now = utcnow()
    status, reason = "pending", None
    if tx.kind != Kind.SALE and context.setting("refunds", "skip") != "negative":
        status = "skipped"
        reason = (f"{tx.kind.value} recorded; the target has no reversal API "
                  "(set refunds=negative to post it as a negative amount)")
    row = TransactionRow(
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
    )
    _set_customer(row, tx.customer)
    return row


def _customer_of(row: TransactionRow) -> Customer:
    return Customer(email=row.customer_email, phone=row.customer_phone, barcode=row.customer_barcode,
                    vendor_customer_id=row.vendor_customer_id, name=row.customer_name,
                    loyalty_id=row.loyalty_customer_id)


def _set_customer(row: TransactionRow, customer: Customer) -> None:
    row.customer_email, row.customer_phone = customer.email, customer.phone
    row.customer_barcode, row.vendor_customer_id = customer.barcode, customer.vendor_customer_id
    row.customer_name, row.loyalty_customer_id = customer.name, customer.loyalty_id


def _finish(db: Database, event_id: int, status: str, reason: str, event_type: str | None = None) -> None:
    with db.session() as session:
        event = session.get(EventRow, event_id)
        event.status, event.reason, event.lease_until = status, reason, None
        event.replay_requested = False
        if event_type:
            event.event_type = event_type


def _retry_later(db: Database, event_id: int, attempts: int, reason: str,
                 retry_after: float | None = None) -> None:
    with db.session() as session:
        event = session.get(EventRow, event_id)
        event.reason = f"{reason}; trying again"
        event.next_attempt_at = utcnow() + timedelta(seconds=retry_delay(attempts, retry_after))
        event.lease_until = None
