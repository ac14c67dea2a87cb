"""Events and transactions as the CLI (and later the admin API) show them."""

from __future__ import annotations

import base64
from typing import Any

from datetime import datetime, timedelta

from sqlalchemy import func, select

from bridge import search
from bridge.identity import masked
from bridge.search import STATUSES, EventFilter
from bridge.store import Database
from bridge.store.tables import AttemptRow, ClaimRow, ConnectionRow, EventRow, TransactionRow, utcnow

__all__ = ["STATUSES", "list_events", "overview", "show_event"]
SECRET_HEADERS = ("x-square-hmacsha256-signature", "x-signature", "toast-signature", "authorization",
                  "x-api-key", "webhook-signature", "x-bridge-signature", "cookie")


def event_summary(event: EventRow, attempts: int) -> dict[str, Any]:
    return {
        "id": event.id, "connection_id": event.connection_id, "vendor": event.vendor,
        "vendor_event_id": event.vendor_event_id, "event_type": event.event_type,
        "source": event.source, "status": event.status, "reason": event.reason,
        "received_at": event.received_at.isoformat(), "attempts": attempts,
    }


def list_events(db: Database, flt: EventFilter | None = None, limit: int = 1000,
                cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    with db.session() as session:
        events, attempts, next_cursor = search.page(session, flt or EventFilter(), limit, cursor)
        return [event_summary(event, int(attempts.get(event.id, 0))) for event in events], next_cursor


def masked_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: ("…" + value[-4:] if name.lower() in SECRET_HEADERS and len(value) > 8 else
                   ("…" if name.lower() in SECRET_HEADERS else value))
            for name, value in headers.items()}


def body_view(body: bytes) -> dict[str, Any]:
    try:
        return {"encoding": "utf-8", "text": body.decode("utf-8"), "size": len(body)}
    except UnicodeDecodeError:
        return {"encoding": "base64", "text": base64.b64encode(body).decode(), "size": len(body)}


def transaction_view(row: TransactionRow, attempts: list[AttemptRow]) -> dict[str, Any]:
    return {
        "id": row.id, "idempotency_key": row.idempotency_key, "source_id": row.source_id,
        "kind": row.kind, "amount_minor": row.amount_minor, "currency": row.currency,
        "occurred_at": row.occurred_at.isoformat(),
        "customer": {"email": row.customer_email, "phone": row.customer_phone,
                     "barcode": row.customer_barcode, "vendor_customer_id": row.vendor_customer_id,
                     "loyalty_customer_id": row.loyalty_customer_id, "name": row.customer_name},
        "location": {"id": row.location_id, "name": row.location_name},
        "reference": row.reference, "refund_of": row.refund_of, "metadata": row.extra,
        "status": row.status, "reason": row.reason, "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "result": row.result,
        "delivery_attempts": [{
            "number": a.number, "started_at": a.started_at.isoformat(), "duration_ms": a.duration_ms,
            "request": a.request, "status_code": a.status_code, "response_excerpt": a.response_excerpt,
            "error_class": a.error_class, "outcome": a.outcome, "reason": a.reason,
            "next_attempt_at": a.next_attempt_at.isoformat() if a.next_attempt_at else None,
        } for a in attempts],
    }


def show_event(db: Database, event_id: int) -> dict[str, Any] | None:
    with db.session() as session:
        event = session.get(EventRow, event_id)
        if event is None:
            return None
        transactions = []
        for row in event.transactions:
            attempts = list(session.scalars(select(AttemptRow).where(
                AttemptRow.transaction_id == row.id).order_by(AttemptRow.id)))
            transactions.append(transaction_view(row, attempts))
        view = event_summary(event, sum(tx["attempts"] for tx in transactions))
        view["request"] = {"headers": masked_headers(event.headers), "body": body_view(event.body),
                           "purged_at": event.body_purged_at.isoformat() if event.body_purged_at else None,
                           "content_type": event.content_type, "remote_addr": event.remote_addr}
        view["transactions"] = transactions
    # Receipt claims on these sales (bridge.claims): who claimed, when, from where, with what outcome.
    claimed = claims_of(db, [tx["id"] for tx in transactions])
    for tx in transactions:
        tx["claims"] = [claim for claim in claimed if claim["transaction_id"] == tx["id"]]
    return view


def claim_view(claim: ClaimRow) -> dict[str, Any]:
    """A claim attempt for support: the identity masked, as in the logs."""
    return {"id": claim.id, "connection_id": claim.connection_id, "transaction_id": claim.transaction_id,
            "at": claim.at.isoformat(), "remote_addr": claim.remote_addr, "receipt": claim.receipt,
            "identity_kind": claim.identity_kind, "identity": masked(claim.identity_kind, claim.identity),
            "outcome": claim.outcome, "reason": claim.reason,
            "settled_at": claim.settled_at.isoformat() if claim.settled_at else None,
            "revocable": claim.outcome == "pending"}


def claims_of(db: Database, transaction_ids: list[int]) -> list[dict[str, Any]]:
    if not transaction_ids:
        return []
    with db.session() as session:
        return [claim_view(row) for row in session.scalars(
            select(ClaimRow).where(ClaimRow.transaction_id.in_(transaction_ids)).order_by(ClaimRow.id))]


def list_claims(db: Database, connection_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest claim attempts, every outcome (refused ones too)."""
    query = select(ClaimRow).order_by(ClaimRow.id.desc()).limit(limit)
    if connection_id:
        query = query.where(ClaimRow.connection_id == connection_id)
    with db.session() as session:
        return [claim_view(row) for row in session.scalars(query)]


PROBLEM_STATUSES = ("failed", "unmatched", "paused")


def overview(db: Database, hours: int = 24) -> tuple[datetime, list[dict[str, Any]]]:
    """Per connection, events received in the last `hours` by status, and the
    newest event that needs a person (failed, unmatched or paused)."""
    since = utcnow() - timedelta(hours=hours)
    with db.session() as session:
        counts: dict[str, dict[str, int]] = {}
        for connection_id, status, n in session.execute(
                select(EventRow.connection_id, EventRow.status, func.count())
                # A go-live test transaction is not traffic.
                .where(EventRow.received_at >= since, EventRow.source != "test")
                .group_by(EventRow.connection_id, EventRow.status)):
            counts.setdefault(connection_id, {})[status] = n
        summaries = []
        for row in session.scalars(select(ConnectionRow).order_by(ConnectionRow.created_at)):
            last = session.execute(
                select(EventRow.id, EventRow.reason, EventRow.received_at)
                .where(EventRow.connection_id == row.id, EventRow.status.in_(PROBLEM_STATUSES))
                .order_by(EventRow.id.desc()).limit(1)).first()
            summaries.append({
                "connection": row, "by_status": counts.get(row.id, {}),
                "last_error": None if last is None else {"event_id": last[0], "reason": last[1], "at": last[2]}})
    return since, summaries
