"""Events and transactions as the CLI (and later the admin API) show them."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select

from bridge import search
from bridge.search import STATUSES, EventFilter
from bridge.store import Database
from bridge.store.tables import AttemptRow, EventRow, TransactionRow

__all__ = ["STATUSES", "list_events", "show_event"]
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
                     "name": row.customer_name},
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
                           "content_type": event.content_type, "remote_addr": event.remote_addr}
        view["transactions"] = transactions
        return view
