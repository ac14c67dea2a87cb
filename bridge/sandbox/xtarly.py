"""Xtarly's "POS integration" points API, as docs/loyalty-core-api.md describes it.

Authentication (X-API-Key -> organization) and fault injection happen in the
app's before_request hook; by the time a view runs, `g.sandbox_org` is set.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, g

from .ledger import Outcome
from .models import Customer, Organization
from .responses import (current_ledger, error_outcome, error_response, idempotency_key,
                        json_object_body, outcome_response)
from .rules import exact_number, xtarly_award

xtarly_blueprint = Blueprint("xtarly", __name__, url_prefix="/xtarly")


@xtarly_blueprint.post("/transaction")
def post_transaction() -> Response:
    org: Organization = g.sandbox_org
    body = json_object_body()
    outcome = current_ledger().run_transaction(
        "xtarly", org, idempotency_key(), lambda: award_transaction(org, body))
    return outcome_response(outcome)


@xtarly_blueprint.get("/customer/<customer_id>")
def get_customer(customer_id: str) -> Response:
    customer = current_ledger().customer_view(g.sandbox_org, customer_id)
    if customer is None:
        return error_response(404, "NOT_FOUND", "no customer with that id in this organization")
    fields = ("id", "name", "email", "points", "stamps", "tier")
    return outcome_response(Outcome(200, {"success": True,
                                          "data": {f: customer[f] for f in fields}}))


def award_transaction(org: Organization, body: dict[str, Any] | None) -> Outcome:
    """Validate, find the customer, award. Runs under the ledger lock."""
    if body is None:
        return error_outcome(400, "VALIDATION_ERROR", "request body must be a JSON object")
    amount = exact_number(body.get("amount"))
    if amount is None:
        return error_outcome(400, "VALIDATION_ERROR", "amount is required and must be a number")
    if amount < 0 and not org.accepts_negative:
        # Xtarly documents no reversal; only an org set up for refund tests takes one.
        return error_outcome(400, "VALIDATION_ERROR", "amount must not be negative")
    identifiers = {name: body.get(name) for name in ("customerId", "customerEmail")}
    if any(v is not None and not isinstance(v, str) for v in identifiers.values()):
        return error_outcome(400, "VALIDATION_ERROR", "customerId and customerEmail must be strings")
    customer_id = (identifiers["customerId"] or "").strip()
    customer_email = (identifiers["customerEmail"] or "").strip()
    if not customer_id and not customer_email:
        return error_outcome(400, "VALIDATION_ERROR", "customerId or customerEmail is required")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return error_outcome(400, "VALIDATION_ERROR", "metadata must be an object")

    customer = _find_customer(org, customer_id, customer_email)
    if customer is None:
        return error_outcome(404, "NOT_FOUND", "no customer with that id or email in this organization")
    if org.program is None:
        return error_outcome(400, "BAD_REQUEST", "the organization has no active reward program")

    points, stamps = xtarly_award(org.program, customer, amount)
    customer.points += points
    customer.stamps += stamps
    transaction_id = f"txn_{uuid.uuid4().hex[:20]}"
    award = {
        "transaction_id": transaction_id, "customer_id": customer.id,
        "amount": body["amount"], "currency": None, "points": points,
        "stamps": stamps, "punches": 0, "reference": None, "metadata": metadata,
        "transaction_date": None, "outlet": None,
    }
    data = {"transactionId": transaction_id, "earnedPoints": points, "earnedStamps": stamps,
            "customerPoints": customer.points, "customerStamps": customer.stamps}
    return Outcome(200, {"success": True, "data": data}, award=award)


def _find_customer(org: Organization, customer_id: str, email: str) -> Customer | None:
    if customer_id and customer_id in org.customers:
        return org.customers[customer_id]
    if email:
        wanted = email.casefold()
        return next((c for c in org.customers.values()
                     if c.email and c.email.casefold() == wanted), None)
    return None
