"""Claim a sale from its receipt: the customer who had no card at the till
types the receipt number, date, total and their email, phone or card, and the
sale is delivered for them under its own idempotency key.

Rules that keep it honest:
- Only an `unmatched` completed sale of that connection, with that receipt
  identifier on that local date (bridge.receipts), the same total to the cent,
  inside the claim window, can be claimed.
- One claim wins: a conditional update moves the sale from `unmatched` to
  `pending`; a second claim at the same instant finds it no longer unmatched.
- Every kind of no-match does the same work (the same lookup, the same
  conditional update, one attempt row) and gets the same answer, so the page
  tells nobody which receipts exist.
- If the core does not know the claimant (404), the sale gets back the
  customer it had and stays claimable.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update

from bridge import connections, receipts
from bridge.delivery import Deliverer
from bridge.errors import BridgeError
from bridge.identity import masked, normalize_email, normalize_phone
from bridge.model import Kind
from bridge.money import to_minor
from bridge.states import refresh_events_of
from bridge.store import Database
from bridge.store.tables import AuditRow, ClaimRow, ConnectionRow, TransactionRow, utcnow

log = logging.getLogger("bridge.claims")
IDENTITY_FIELDS = ("email", "phone", "barcode")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
NOT_FOUND = {"status": "not_found"}


class ClaimInvalid(BridgeError):
    code = "claim_invalid"
    status = 422
    title = "The claim cannot be read"


class UnknownClaim(BridgeError):
    code = "unknown_claim"
    status = 404
    title = "No such claim"


class ClaimNotRevocable(BridgeError):
    code = "claim_not_revocable"
    status = 409
    title = "The claim cannot be revoked"


@dataclass(frozen=True)
class ClaimForm:
    receipt: str
    date: date
    amount: Decimal
    identity_kind: str  # email | phone | barcode
    identity: str  # normalised: lower-case email, E.164 phone, barcode as typed


@dataclass(frozen=True)
class Answer:
    http_status: int
    body: dict


def read_form(fields: dict, country: str | None) -> ClaimForm:
    """The four things from the receipt and one identity, or every problem at once."""
    problems: list[dict] = []

    def text(name: str, limit: int) -> str | None:
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or len(value.strip()) > limit:
            problems.append({"field": name, "detail": f"{name} must be text of at most {limit} characters"})
            return None
        return value.strip()

    receipt = text("receipt", 64)
    if receipt is None and not _about(problems, "receipt"):
        problems.append({"field": "receipt", "detail": "type the receipt number printed on the receipt"})
    sale_date = _date(text("date", 10), problems)
    amount = _amount(fields.get("amount"), problems)
    given = {name: text(name, 320) for name in IDENTITY_FIELDS}
    given = {name: value for name, value in given.items() if value}
    identity_kind, identity = _identity(given, country, problems)
    if problems:
        raise ClaimInvalid("; ".join(p["detail"] for p in problems), errors=problems)
    return ClaimForm(receipt=receipt, date=sale_date, amount=amount, identity_kind=identity_kind,
                     identity=identity)


def _about(problems: list[dict], name: str) -> bool:
    return any(p["field"] == name for p in problems)


def _date(value: str | None, problems: list[dict]) -> date | None:
    if value and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.append({"field": "date", "detail": "date must be the receipt's date as YYYY-MM-DD, like 2026-11-28"})
    return None


def _amount(value, problems: list[dict]) -> Decimal | None:
    detail = 'amount must be the receipt total as a decimal number, like "12.50" (no currency sign)'
    if isinstance(value, bool) or not isinstance(value, str) or not re.fullmatch(r"\d{1,9}(\.\d{1,3})?",
                                                                                  value.strip()):
        problems.append({"field": "amount", "detail": detail})
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        problems.append({"field": "amount", "detail": detail})
        return None
    if amount <= 0:
        problems.append({"field": "amount", "detail": "amount must be more than zero"})
        return None
    return amount


def _identity(given: dict, country: str | None, problems: list[dict]) -> tuple[str | None, str | None]:
    if len(given) != 1:
        problems.append({"field": "email", "detail": "give one of email, phone or card number"})
        return None, None
    [(kind, value)] = given.items()
    if kind == "email":
        email = normalize_email(value)
        if not email or not _EMAIL.fullmatch(email):
            problems.append({"field": "email", "detail": f"{value!r} is not an email address"})
            return None, None
        return kind, email
    if kind == "phone":
        phone = normalize_phone(value, country)
        if phone is None:
            problems.append({"field": "phone", "detail": "phone must be a valid number, with its country code "
                                                         "(like +61412345678) if it is not local"})
            return None, None
        return kind, phone
    if len(value) > 128 or any(ch.isspace() for ch in value):
        problems.append({"field": "barcode", "detail": "the card number has no spaces and at most 128 characters"})
        return None, None
    return kind, value


# -- the claim ---------------------------------------------------------------
def find_connection(db: Database, slug: str) -> ConnectionRow | None:
    with db.session() as session:
        row = session.scalar(select(ConnectionRow).where(ConnectionRow.claim_slug == slug))
    if row is None or row.status == "disabled" or not connections.claims_on(row):
        return None
    return row


def record_refusal(db: Database, connection_id: str, remote_addr: str | None, outcome: str, reason: str) -> None:
    """A rate-limited or unreadable attempt: recorded too (no identity kept)."""
    with db.session() as session:
        session.add(ClaimRow(connection_id=connection_id, remote_addr=remote_addr, outcome=outcome,
                             reason=reason[:500], settled_at=utcnow()))
    log.info("claim on %s from %s: %s", connection_id, remote_addr, outcome)


def submit(db: Database, deliverer: Deliverer, row: ConnectionRow, form: ClaimForm,
           remote_addr: str | None) -> Answer:
    claim_id, tx_id = _bind(db, row, form, remote_addr)
    if tx_id is None:
        return Answer(404, dict(NOT_FOUND))
    status = deliverer.deliver_now(tx_id)
    return _settle(db, row, claim_id, tx_id, status)


def _bind(db: Database, row: ConnectionRow, form: ClaimForm, remote_addr: str | None) -> tuple[int, int | None]:
    """Find the sale and move it to the claimant, or do the same work and find nothing."""
    oldest = utcnow() - timedelta(days=connections.claim_days(row))
    with db.session() as session:
        candidates = session.execute(select(
            TransactionRow.id, TransactionRow.currency, TransactionRow.amount_minor,
            TransactionRow.receipt_total_minor, TransactionRow.occurred_at).where(
            TransactionRow.connection_id == row.id,
            TransactionRow.receipt_key == receipts.receipt_key(form.receipt),
            TransactionRow.local_date == form.date, TransactionRow.kind == Kind.SALE.value,
            TransactionRow.status == "unmatched").order_by(TransactionRow.id)).all()
        match = next((c.id for c in candidates
                      if c.occurred_at >= oldest and _same_total(form.amount, c)), None)
        prior = _customer_json(session.get(TransactionRow, match)) if match is not None else None
        claim = ClaimRow(connection_id=row.id, remote_addr=remote_addr, receipt=form.receipt,
                         identity_kind=form.identity_kind, identity=form.identity, outcome="not_found",
                         prior_customer=prior)
        session.add(claim)
        session.flush()
        # The conditional update runs on every path (on no row when nothing
        # matched): the store decides who wins, and no-matches cost the same.
        won = session.execute(update(TransactionRow).where(
            TransactionRow.id == (match if match is not None else -1),
            TransactionRow.status == "unmatched").values(
            status="pending", next_attempt_at=utcnow(), enqueued_at=utcnow(), lease_until=None,
            first_attempt_at=None, reason=f"claimed from the receipt (claim {claim.id})",
            **_identity_columns(form.identity_kind, form.identity)),
            execution_options={"synchronize_session": False}).rowcount == 1
        if won:
            claim.transaction_id, claim.outcome = match, "pending"
        else:
            claim.settled_at, claim.prior_customer = utcnow(), None
        claim_id = claim.id
    log.info("claim %s on %s from %s for %s: %s", claim_id, row.id, remote_addr,
             masked(form.identity_kind, form.identity), "matched" if won else "not_found")
    return claim_id, match if won else None


def _same_total(amount: Decimal, candidate) -> bool:
    try:
        minor = to_minor(str(amount), candidate.currency, path="amount")
    except BridgeError:  # more decimals than the currency has: no total matches
        return False
    # The printed total, or the amount before a tip (Square prints both).
    return minor in (candidate.receipt_total_minor, candidate.amount_minor)


def _identity_columns(kind: str, value: str) -> dict:
    """The claimant replaces whatever partial identity the sale had."""
    return {"customer_email": value if kind == "email" else None,
            "customer_phone": value if kind == "phone" else None,
            "customer_barcode": value if kind == "barcode" else None,
            "loyalty_customer_id": None}


def _customer_json(tx: TransactionRow) -> dict:
    return {"customer_email": tx.customer_email, "customer_phone": tx.customer_phone,
            "customer_barcode": tx.customer_barcode, "loyalty_customer_id": tx.loyalty_customer_id}


def _settle(db: Database, row: ConnectionRow, claim_id: int, tx_id: int, status: str) -> Answer:
    with db.session() as session:
        claim = session.get(ClaimRow, claim_id)
        tx = session.get(TransactionRow, tx_id)
        if status == "delivered":
            claim.outcome, claim.settled_at = "claimed", utcnow()
            result = tx.result or {}
            answer = Answer(200, {"status": "claimed", "earned_points": result.get("earned_points"),
                                  "balance": result.get("balance")})
        elif status == "unmatched":
            # The core does not know them: the sale keeps its own customer and
            # stays claimable (sign up, then claim again).
            claim.outcome, claim.settled_at, claim.reason = "customer_unknown", utcnow(), tx.reason
            _restore(tx, claim)
            tx.reason = f"claim {claim_id}: the loyalty core does not know the claimant; claimable again"
            answer = Answer(404, {"status": "customer_not_found",
                                  "signup_url": (row.settings or {}).get("signup_url")})
        else:  # held for a retry, a pause or a failure: support sees it, and may revoke it
            claim.reason = tx.reason
            answer = Answer(202, {"status": "pending"})
        session.flush()
        refresh_events_of(session, [tx_id])
    log.info("claim %s on %s: %s", claim_id, row.id, answer.body["status"])
    return answer


def _restore(tx: TransactionRow, claim: ClaimRow) -> None:
    for column, value in (claim.prior_customer or {}).items():
        setattr(tx, column, value)


def revoke(db: Database, claim_id: int, actor: str) -> ClaimRow:
    """Support takes back a claim whose sale is not delivered yet: the sale
    gets its own customer back and is `unmatched` (claimable) again."""
    with db.session() as session:
        claim = session.get(ClaimRow, claim_id)
        if claim is None:
            raise UnknownClaim(f"no claim {claim_id}")
        if claim.outcome != "pending" or claim.transaction_id is None:
            raise ClaimNotRevocable(f"claim {claim_id} is {claim.outcome}: only a claim still being "
                                    "delivered can be revoked")
        now = utcnow()
        held = session.execute(update(TransactionRow).where(
            TransactionRow.id == claim.transaction_id, TransactionRow.status.in_(("pending", "failed", "paused")),
            (TransactionRow.lease_until.is_(None)) | (TransactionRow.lease_until < now)).values(
            status="unmatched", next_attempt_at=None, reason=f"claim {claim_id} revoked by {actor}",
            **(claim.prior_customer or {})), execution_options={"synchronize_session": False}).rowcount
        if held != 1:
            raise ClaimNotRevocable(f"claim {claim_id}: its sale is being delivered or already delivered")
        claim.outcome, claim.settled_at, claim.reason = "revoked", now, f"revoked by {actor}"
        session.add(AuditRow(actor=actor, action="revoke_claim", subject_kind="claim", subject_id=str(claim_id),
                             detail={"transaction_id": claim.transaction_id}))
        session.flush()
        refresh_events_of(session, [claim.transaction_id])
        return claim
