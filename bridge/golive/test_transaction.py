"""`bridge connections test ID --customer ...`: one real, marked test transaction.

The merchant creates a test customer in the loyalty platform; this sends one
sale for them (default 1.00 in the connection's currency, else USD), waits for
the core's answer and reports the points earned and the new balance as the
core reports them.

- It is a transaction of its own: a fresh idempotency key (`lbtest_<uuid>`)
  each time, so a second test is a second transaction.
- It is marked: `metadata.test = true` (Xtarly and Cockato) and a reference
  `loyalty-bridge test <id>`, so a person in the loyalty platform sees it.
- It is recorded as an event with `source = "test"` and `event_type = "test"`,
  linked to its transaction and attempt, so `bridge events list/show` show it
  and it is never confused with a sale from the POS.
- It is sent once: a timeout or 5xx is reported, not retried later behind the
  merchant's back (the retry budget of a test is zero), and a rejected key
  leaves the test `failed`, not held for a resume.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from bridge import connections, egress
from bridge.clients import client_for
from bridge.clients.base import Delivery
from bridge.config import Config
from bridge.contract import InboundRequest
from bridge.delivery import Deliverer
from bridge.errors import ConfigError, ConnectionNotActive, PayloadError, Unmatched
from bridge.golive.check import load_connection
from bridge.identity import normalize_email, normalize_phone
from bridge.inbox import store_event
from bridge.model import Kind
from bridge.money import format_minor, to_minor
from bridge.states import refresh_events_of
from bridge.store import Database
from bridge.store.tables import (
    AttemptRow,
    EventRow,
    EventTransactionRow,
    TransactionRow,
    utcnow,
)

DEFAULT_CURRENCY = "USD"
KEY_PREFIX = "lbtest_"
_E164_SHAPE = re.compile(r"\+[\d\s().-]{6,20}")



def customer_identity(value: str, country: str | None = None) -> dict[str, str]:
    """Decide by shape: an email has an @, a phone starts with + (E.164), anything else is a barcode."""
    value = (value or "").strip()
    if not value:
        raise ConfigError("--customer must be an email, an E.164 phone (+61412345678) or a barcode")
    if "@" in value:
        email = normalize_email(value)
        if not email or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise ConfigError(f"{value!r} is not an email address")
        return {"email": email}
    if _E164_SHAPE.fullmatch(value):
        phone = normalize_phone(value, country)
        if phone is None:
            raise ConfigError(f"{value!r} is not a valid phone number (E.164, e.g. +61412345678)")
        return {"phone": phone}
    if len(value) > 128 or any(ch.isspace() for ch in value):
        raise ConfigError(f"{value!r} is not an email, an E.164 phone or a barcode")
    return {"barcode": value}


def _amount_minor(amount: str | Decimal | int, currency: str) -> int:
    try:
        minor = to_minor(str(amount), currency, path="--amount")
    except PayloadError as error:
        raise ConfigError(error.message) from None
    if minor <= 0:
        raise ConfigError("--amount must be more than zero")
    return minor


def run_test(db: Database, config: Config, connection_id: str, customer: str, amount: str = "1.00", *,
             actor: str = "cli", http: httpx.Client | None = None,
             remote_addr: str | None = None) -> dict[str, Any]:
    """Send the test, wait for the answer; `{"ok", "status", "earned_points", "balance",
    "idempotency_key", "response"}` plus `event_id`, `reason`, `customer`, `amount`."""
    row = load_connection(db, connection_id)
    if row.status != "active":
        why = f" ({row.status_reason})" if row.status_reason else ""
        raise ConnectionNotActive(f"connection {row.id} is {row.status}{why}: fix it first "
                                  "(a new target key resumes a paused connection), then test")
    identity = customer_identity(customer, row.country)
    currency = row.currency or DEFAULT_CURRENCY
    amount_minor = _amount_minor(amount, currency)
    test_id = uuid.uuid4().hex
    key = KEY_PREFIX + test_id
    now = utcnow()
    delivery = Delivery(
        idempotency_key=key, connection_id=row.id, vendor=row.vendor, source_id=f"test-{test_id}",
        kind=Kind.SALE, amount_minor=amount_minor, currency=currency,
        occurred_at=now.isoformat().replace("+00:00", "Z"), email=identity.get("email"),
        phone=identity.get("phone"), barcode=identity.get("barcode"), loyalty_customer_id=None,
        location_id=None, location_name=None, reference=f"loyalty-bridge test {test_id[:12]}",
        refund_of=None, test=True)
    client = client_for(row.target_kind)
    try:  # refuse before anything is recorded when the core could never match this customer
        client.build(delivery, row.target_url, "probe")
    except Unmatched as unmatched:
        raise ConfigError(f"{unmatched.message}: pass --customer as one it matches "
                          f"({', '.join(name for name in client.identifies_by if name != 'loyalty_customer_id')})"
                          ) from None

    record = {"test": True, "customer": identity, "amount": format_minor(amount_minor, currency),
              "idempotency_key": key, "requested_by": actor}
    stored = store_event(
        db, connection_id=row.id, vendor=row.vendor, vendor_event_id=f"test:{test_id}",
        request=InboundRequest(body=json.dumps(record).encode(), headers={"content-type": "application/json"},
                               url=connections.webhook_url(config.public_url, row.id),
                               content_type="application/json", remote_addr=remote_addr, received_at=now),
        source="test", status="pending", reason=f"test transaction requested by {actor}")
    with db.session() as session:
        event = session.get(EventRow, stored.event_id)
        event.event_type = "test"
        tx = TransactionRow(
            idempotency_key=key, connection_id=row.id, vendor=row.vendor, source_id=delivery.source_id,
            kind=Kind.SALE.value, amount_minor=amount_minor, currency=currency, occurred_at=now,
            customer_email=delivery.email, customer_phone=delivery.phone, customer_barcode=delivery.barcode,
            reference=delivery.reference, line_items=[], extra={"test": True, "requested_by": actor},
            # Due now and marked enqueued: the sweeper leaves it to us, we deliver it at once.
            status="pending", next_attempt_at=now, enqueued_at=now, created_at=now, updated_at=now)
        session.add(tx)
        session.flush()
        session.add(EventTransactionRow(event_id=event.id, transaction_id=tx.id))
        tx_id = tx.id

    own = http is None
    http = http or egress.target_client(config.delivery_timeout_seconds, config.allow_private_targets)
    try:
        deliverer = Deliverer(db, timeout=config.delivery_timeout_seconds, retry_budget_seconds=0,
                              allow_private_targets=config.allow_private_targets, http=http)
        deliverer.deliver_now(tx_id)
    finally:
        if own:
            http.close()
    _one_shot(db, tx_id)
    return _result(db, stored.event_id, tx_id, identity, amount_minor, currency)


def _one_shot(db: Database, tx_id: int) -> None:
    """A test is sent once: never resumed with a paused connection, never retried."""
    with db.session() as session:
        row = session.get(TransactionRow, tx_id)
        last = session.scalar(select(AttemptRow).where(AttemptRow.transaction_id == tx_id)
                              .order_by(AttemptRow.number.desc()).limit(1))
        said = last.reason if last is not None and last.reason else row.reason
        if row.status == "paused":
            row.status, row.reason = "failed", f"test transaction, not resumed: {said}"
        elif row.status == "failed" and (row.reason or "").startswith("retry budget spent"):
            row.reason = f"test transaction, not retried: {said}"
        elif row.status == "pending":  # still in someone else's hands past the wait
            return
        session.flush()
        refresh_events_of(session, [tx_id])


def _result(db: Database, event_id: int, tx_id: int, identity: dict, amount_minor: int,
            currency: str) -> dict[str, Any]:
    with db.session() as session:
        row = session.get(TransactionRow, tx_id)
        last = session.scalar(select(AttemptRow).where(AttemptRow.transaction_id == tx_id)
                              .order_by(AttemptRow.number.desc()).limit(1))
        result = row.result or {}
        response = result.get("response")
        if response is None and last is not None and last.response_excerpt:
            try:
                response = json.loads(last.response_excerpt)
            except ValueError:
                response = last.response_excerpt
        return {
            "ok": row.status == "delivered", "status": row.status,
            "earned_points": result.get("earned_points"), "balance": result.get("balance"),
            "idempotency_key": row.idempotency_key, "response": response,
            "event_id": event_id, "reason": row.reason, "status_code": last.status_code if last else None,
            "customer": identity, "amount": format_minor(amount_minor, currency),
        }
