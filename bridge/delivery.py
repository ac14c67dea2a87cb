"""Worker step 2: post one transaction to the connection's loyalty core.

Each attempt first claims the row (compare-and-set on status and lease), so
two workers never post the same delivery at once; a worker killed mid-post
leaves a lease that expires, and the retry reuses the idempotency key.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from bridge import connections, egress, throttle
from bridge.buckets import Buckets, Rate
from bridge.clients import client_for
from bridge.clients.base import Delivery, TargetClient
from bridge.errors import ConfigError, Unmatched
from bridge.logs import log_context
from bridge.metrics import ATTEMPT_SECONDS, DELIVERIES, DELIVERIES_THROTTLED
from bridge.model import Kind
from bridge.outcome import Outcome, Verdict, classify_exception, classify_response
from bridge.retry import next_attempt
from bridge.states import refresh_events_of
from bridge.store import Database
from bridge.store.tables import AttemptRow, ConnectionRow, TransactionRow, utcnow

log = logging.getLogger("bridge.delivery")


@dataclass(frozen=True)
class Claimed:
    """A transaction this worker holds the lease of, ready to post."""

    transaction_id: int
    connection_id: str
    delivery: Delivery
    paused: str | None  # why the connection is not active, if it is not
    client: TargetClient
    rate: Rate | None  # the target's budget (bridge.throttle)
    target_url: str
    target_key: str
    # Only the lease holder writes these, so they hold until it settles.
    attempts: int
    first_attempt_at: datetime | None


transactions, attempts = TransactionRow.__table__, AttemptRow.__table__
# Built once with bound parameters (see bridge.pipeline): every delivery runs them.
CLAIM = (
    update(transactions)
    .where(transactions.c.id == bindparam("transaction_id"), transactions.c.status == "pending",
           transactions.c.next_attempt_at <= bindparam("now"),
           transactions.c.lease_until.is_(None) | (transactions.c.lease_until < bindparam("now")))
    .values(lease_until=bindparam("new_lease")))
targets = ConnectionRow.__table__
# What an attempt reads, by name: not the two whole rows (57 columns), whose
# loading was most of read_claimed's CPU.
READ_CLAIMED = (
    select(transactions.c.idempotency_key, transactions.c.connection_id, transactions.c.vendor,
           transactions.c.source_id, transactions.c.kind, transactions.c.amount_minor, transactions.c.currency,
           transactions.c.occurred_at, transactions.c.customer_email, transactions.c.customer_phone,
           transactions.c.customer_barcode, transactions.c.loyalty_customer_id, transactions.c.location_id,
           transactions.c.location_name, transactions.c.reference, transactions.c.refund_of,
           transactions.c.metadata.label("extra"), transactions.c.attempts, transactions.c.first_attempt_at,
           targets.c.status, targets.c.status_reason, targets.c.target_kind,
           targets.c.settings, targets.c.target_url, targets.c.target_key)
    .join(targets, targets.c.id == transactions.c.connection_id)
    .where(transactions.c.id == bindparam("transaction_id")))
# The customer as stored now: a later event may have changed it during the attempt.
READ_IDENTITY = select(
    transactions.c.customer_email, transactions.c.customer_phone, transactions.c.customer_barcode,
    transactions.c.loyalty_customer_id).where(transactions.c.id == bindparam("transaction_id"))
# The SET clause is whatever columns the call passes.
UPDATE_TRANSACTION = update(transactions).where(transactions.c.id == bindparam("transaction_id"))
INSERT_ATTEMPT = insert(attempts)
RESPONSE_EXCERPT = 2000
DEFER_SPREAD_SECONDS = 1.0


class Deliverer:
    def __init__(self, db: Database, *, timeout: float, retry_budget_seconds: float,
                 allow_private_targets: bool, http: httpx.Client | None = None, buckets=None) -> None:
        self.db = db
        # Per-target budgets (bridge.throttle): Redis-backed in production, shared by all workers.
        self.buckets = buckets or Buckets()
        self.timeout = timeout
        self.retry_budget_seconds = retry_budget_seconds
        self.allow_private_targets = allow_private_targets
        self.http = http or egress.target_client(timeout, allow_private_targets)
        # Longer than any request can take, so a live attempt never loses its claim.
        self.lease = timedelta(seconds=timeout * 3 + 30)

    def claim(self, transaction_id: int) -> bool:
        with self.db.session() as session:
            return self._claim(session, transaction_id)

    def _claim(self, session: Session, transaction_id: int) -> bool:
        """Compare-and-set on status and lease; holds once the session commits."""
        now = utcnow()
        claimed = session.execute(CLAIM, {"transaction_id": transaction_id, "now": now,
                                          "new_lease": now + self.lease}).rowcount
        return claimed == 1

    def deliver(self, transaction_id: int) -> Verdict | None:
        """The verdict of one attempt; None when none was made (claimed elsewhere,
        or held back by the target's rate)."""
        with log_context(transaction_id=transaction_id):
            return self._deliver(transaction_id)

    def _deliver(self, transaction_id: int) -> Verdict | None:
        with self.db.session() as session:  # claim and read in one round of the database
            if not self._claim(session, transaction_id):
                return None
            claimed = self.read_claimed(session, transaction_id)
        return self.deliver_claimed(claimed)

    def lease_for_new_row(self) -> dict:
        """Columns that store a new transaction already claimed by this worker
        (bridge.pipeline, when the caller delivers it right after): the claim's
        own transaction is saved."""
        return {"lease_until": utcnow() + self.lease}

    def read_claimed(self, session: Session, transaction_id: int) -> Claimed:
        """What an attempt needs of a transaction this worker has claimed and its connection."""
        session.flush()  # a Core statement does not autoflush the caller's changes
        row = session.execute(READ_CLAIMED, {"transaction_id": transaction_id}).one()
        return Claimed(
            transaction_id=transaction_id, connection_id=row.connection_id, delivery=_delivery_of(row),
            paused=None if row.status == "active" else row.status_reason or f"connection {row.status}",
            client=client_for(row.target_kind), rate=throttle.rate_for(row.target_kind, row.settings),
            target_url=row.target_url, target_key=self.db.sealer.open(row.target_key),
            attempts=row.attempts, first_attempt_at=row.first_attempt_at)

    def deliver_claimed(self, claimed: Claimed) -> Verdict | None:
        """One attempt for a transaction already claimed: by `deliver`, or
        stored claimed by the pipeline for this deliverer."""
        with log_context(transaction_id=claimed.transaction_id, connection_id=claimed.connection_id):
            return self._attempt(claimed)

    def _attempt(self, claimed: Claimed) -> Verdict | None:
        transaction_id, delivery, client = claimed.transaction_id, claimed.delivery, claimed.client
        if claimed.paused:  # settled after the claim committed: _settle locks the same row
            return self._settle(claimed, Outcome(Verdict.PAUSED, claimed.paused))
        try:
            connections.check_target_url(claimed.target_url, self.allow_private_targets)
            request = client.build(delivery, claimed.target_url, claimed.target_key)
        except Unmatched as unmatched:
            return self._settle(claimed, Outcome(Verdict.UNMATCHED, unmatched.message), sent=delivery)
        except ConfigError as refused:
            return self._settle(claimed, Outcome(Verdict.FAILED, refused.message))
        budget = throttle.bucket_key(claimed.target_url, claimed.target_key)
        if claimed.rate and (wait := self.buckets.take(budget, claimed.rate)):
            self._defer(transaction_id, wait)
            return None

        started_at, started = utcnow(), time.perf_counter()
        status_code = excerpt = error_class = None
        try:
            response = self.http.request(request.method, request.url, headers=request.headers,
                                         json=request.json, timeout=self.timeout)
            status_code, excerpt = response.status_code, response.text[:RESPONSE_EXCERPT]
            body = _json_or_none(response)
            outcome = classify_response(client, response.status_code, body, response.headers)
            result = client.read_success(body) if outcome.verdict == Verdict.DELIVERED else None
        except httpx.HTTPError as error:
            error_class, result = type(error).__name__, None
            outcome = classify_exception(client, error)
        attempt = dict(
            transaction_id=transaction_id, started_at=started_at,
            duration_ms=int((time.perf_counter() - started) * 1000), request=request.summary(),
            status_code=status_code, response_excerpt=excerpt, error_class=error_class,
            outcome=outcome.verdict.value, reason=outcome.reason,
        )
        DELIVERIES.labels(client.name, outcome.verdict.value).inc()
        ATTEMPT_SECONDS.labels(client.name).observe(time.perf_counter() - started)
        if outcome.verdict == Verdict.PAUSED and self._key_rotated_since(claimed):
            # The 401 answers the old key; the connection already holds a new one.
            outcome = Outcome(Verdict.RETRY, f"{outcome.reason.split(';')[0]} (the key sent has been "
                                             "rotated since); sending again with the new key")
        return self._settle(claimed, outcome, attempt,
                            result.raw if result else None, result, sent=delivery)

    def _defer(self, transaction_id: int, wait: float) -> None:
        """Over the target's budget: not attempted, due again when a token is back.

        The spread keeps a backlog from all coming back at the same instant;
        the sweeper wakes it (enqueued_at cleared)."""
        when = utcnow() + timedelta(seconds=wait + random.uniform(0, DEFER_SPREAD_SECONDS))
        with self.db.session() as session:
            session.execute(update(TransactionRow).where(TransactionRow.id == transaction_id).values(
                lease_until=None, next_attempt_at=when, enqueued_at=None,
                reason=f"held back: over the target's rate; due {when.isoformat(timespec='seconds')}"))
        DELIVERIES_THROTTLED.inc()

    def deliver_now(self, transaction_id: int) -> str:
        """Deliver in this process and return the transaction's status; when
        another worker holds the row, wait for its answer instead (for callers
        that show the core's answer to a person: `connections test`, a claim)."""
        if self.deliver(transaction_id) is None:
            deadline = time.monotonic() + self.lease.total_seconds()
            while time.monotonic() < deadline and self._in_flight(transaction_id):
                time.sleep(0.1)
        with self.db.session() as session:
            return session.get(TransactionRow, transaction_id).status

    def _in_flight(self, transaction_id: int) -> bool:
        with self.db.session() as session:
            row = session.get(TransactionRow, transaction_id)
            return row.status == "pending" and row.lease_until is not None and row.lease_until > utcnow()

    def _key_rotated_since(self, claimed: Claimed) -> bool:
        with self.db.session() as session:
            conn = connections.get(session, claimed.connection_id)
            return self.db.sealer.open(conn.target_key) != claimed.target_key

    def _settle(self, claimed: Claimed, outcome: Outcome, attempt: dict | None = None,
                raw_result: dict | None = None, awarded=None, sent: Delivery | None = None) -> Verdict:
        """Record the attempt (if one was made) and where the transaction stands."""
        now = utcnow()
        transaction_id, verdict, reason = claimed.transaction_id, outcome.verdict, outcome.reason
        with self.db.session() as session:
            number, first_attempt_at = claimed.attempts, claimed.first_attempt_at
            if attempt is not None:
                number, first_attempt_at = number + 1, first_attempt_at or attempt["started_at"]
            values = dict(attempts=number, first_attempt_at=first_attempt_at, lease_until=None, next_attempt_at=None)
            if verdict == Verdict.RETRY:
                when = next_attempt(now, first_attempt_at or now, number,
                                    self.retry_budget_seconds, outcome.retry_after)
                if when is None:
                    verdict = Verdict.FAILED
                    reason = f"retry budget spent after {number} attempts; last: {reason}"
                else:
                    values.update(status="pending", next_attempt_at=when, enqueued_at=None,
                                  reason=f"{reason}; retrying at {when.isoformat(timespec='seconds')}")
            if verdict == Verdict.DELIVERED:
                values.update(status="delivered", delivered_at=now, reason=_delivered_reason(awarded),
                              result={"earned_points": awarded.earned_points, "balance": awarded.balance,
                                      "transaction_id": awarded.transaction_id, "response": raw_result})
            elif verdict == Verdict.PAUSED:
                values.update(status="paused", reason=reason)
                connections.pause(session, claimed.connection_id, reason)
            elif verdict == Verdict.UNMATCHED and sent is not None and _identity_changed(session, transaction_id, sent):
                # A later event brought the customer while this attempt was in
                # flight with the old details: send again rather than lose them.
                values.update(status="pending", next_attempt_at=now, enqueued_at=None,
                              reason=f"{reason}; new customer details arrived meanwhile, sending again")
                verdict = Verdict.RETRY
            elif verdict in (Verdict.UNMATCHED, Verdict.FAILED):
                values.update(status=verdict.value, reason=reason)
            session.execute(UPDATE_TRANSACTION, {"transaction_id": transaction_id, **values})
            if attempt is not None:
                session.execute(INSERT_ATTEMPT, {**attempt, "number": number,
                                                 "next_attempt_at": values["next_attempt_at"]})
            refresh_events_of(session, [transaction_id])
        log.info("transaction %s: %s (%s)", transaction_id, verdict.value, reason)
        return verdict


def _identity_changed(session: Session, transaction_id: int, sent: Delivery) -> bool:
    stored = session.execute(READ_IDENTITY, {"transaction_id": transaction_id}).one()
    return (stored.customer_email, stored.customer_phone, stored.customer_barcode, stored.loyalty_customer_id) != (
        sent.email, sent.phone, sent.barcode, sent.loyalty_customer_id)


def _delivered_reason(awarded) -> str:
    if awarded and awarded.earned_points is not None:
        balance = f", balance {awarded.balance}" if awarded.balance is not None else ""
        return f"awarded {awarded.earned_points} points{balance}"
    return "delivered"


def _json_or_none(response: httpx.Response):
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None


def _delivery_of(row) -> Delivery:
    """From a READ_CLAIMED row."""
    return Delivery(
        idempotency_key=row.idempotency_key, connection_id=row.connection_id, vendor=row.vendor,
        source_id=row.source_id, kind=Kind(row.kind), amount_minor=row.amount_minor,
        currency=row.currency, occurred_at=row.occurred_at.isoformat().replace("+00:00", "Z"),
        email=row.customer_email, phone=row.customer_phone, barcode=row.customer_barcode,
        loyalty_customer_id=row.loyalty_customer_id, location_id=row.location_id, location_name=row.location_name,
        reference=row.reference, refund_of=row.refund_of, test=bool((row.extra or {}).get("test")),
    )
