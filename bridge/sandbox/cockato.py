"""Cockato's `pos-transaction` endpoint.

Cockato does not publish its body's field names; the ones below are the
contract the bridge's Cockato client sends, listed in README.md. Keep the two
in step: `IDENTIFIER_FIELDS` and `OPTIONAL_TEXT_FIELDS` are the whole list.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, g

from .ledger import Outcome
from .models import Customer, Organization
from .responses import current_ledger, error_outcome, idempotency_key, json_object_body, outcome_response
from .rules import cockato_points, is_iso8601, normalise_phone

cockato_blueprint = Blueprint("cockato", __name__, url_prefix="/cockato")

# Tried in this order; the first that matches a customer wins, so a caller may
# send every identifier it has and let Cockato use the one it knows.
IDENTIFIER_FIELDS = ("barcode", "customer_id", "email", "phone")
OPTIONAL_TEXT_FIELDS = ("currency", "outlet_id", "outlet_name", "transaction_date", "reference")


@cockato_blueprint.post("/pos-transaction")
def post_pos_transaction() -> Response:
    org: Organization = g.sandbox_org
    body = json_object_body()
    outcome = current_ledger().run_transaction(
        "cockato", org, idempotency_key(), lambda: award_pos_transaction(org, body))
    return outcome_response(outcome)


def _invalid(message: str) -> Outcome:
    return error_outcome(400, "VALIDATION_ERROR", message)


def award_pos_transaction(org: Organization, body: dict[str, Any] | None) -> Outcome:
    """Validate, find the customer, award points and punches. Runs under the ledger lock."""
    if body is None:
        return _invalid("request body must be a JSON object")
    texts: dict[str, str | None] = {}
    for name in IDENTIFIER_FIELDS + OPTIONAL_TEXT_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            return _invalid(f"{name} must be a string")
        # Blank fields count as absent: a POS often sends "" for an unknown email.
        texts[name] = (value or "").strip() or None
    if not any(texts[name] for name in IDENTIFIER_FIELDS):
        return _invalid("one of barcode, customer_id, email or phone is required")

    amount, punches = body.get("amount"), body.get("punches")
    for name, value in (("amount", amount), ("punches", punches)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            return _invalid(f"{name} must be a non-negative integer")
    if amount is None and punches is None:
        return _invalid("amount (integer minor units) is required unless punches is given")
    currency = texts["currency"]
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        return _invalid("currency must be an ISO 4217 code such as AUD")
    if texts["transaction_date"] and not is_iso8601(texts["transaction_date"]):
        return _invalid("transaction_date must be an ISO 8601 date or date-time")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return _invalid("metadata must be an object")

    customer = _find_customer(org, texts)
    if customer is None:
        return error_outcome(404, "CUSTOMER_NOT_FOUND", "customer not found")

    points = cockato_points(amount, org.points_per_currency) if amount is not None else 0
    punches = punches or 0
    customer.points += points
    customer.stamps += punches
    transaction_id = f"pt_{uuid.uuid4().hex[:20]}"
    outlet = ({"id": texts["outlet_id"], "name": texts["outlet_name"]}
              if texts["outlet_id"] or texts["outlet_name"] else None)
    award = {
        "transaction_id": transaction_id, "customer_id": customer.id, "amount": amount,
        "currency": currency.upper() if currency else None, "points": points, "stamps": 0,
        "punches": punches, "reference": texts["reference"], "metadata": metadata,
        "transaction_date": texts["transaction_date"], "outlet": outlet,
    }
    return Outcome(200, {
        "success": True,
        "transaction_id": transaction_id,
        "customer": {"id": customer.id, "name": customer.name,
                     "points_balance": customer.points, "punches": customer.stamps},
        "points_awarded": points,
        "punches_awarded": punches,
    }, award=award)


def _find_customer(org: Organization, texts: dict[str, str | None]) -> Customer | None:
    customers = list(org.customers.values())
    matchers = {
        "barcode": lambda c, v: c.barcode == v,
        "customer_id": lambda c, v: c.id == v,
        "email": lambda c, v: bool(c.email) and c.email.casefold() == v.casefold(),
        "phone": lambda c, v: bool(c.phone) and _same_phone(org, c.phone, v),
    }
    for name in IDENTIFIER_FIELDS:
        wanted = texts[name]
        if wanted:
            found = next((c for c in customers if matchers[name](c, wanted)), None)
            if found:
                return found
    return None


def _same_phone(org: Organization, stored: str, given: str) -> bool:
    given_digits = normalise_phone(given, org.country_calling_code)
    return bool(given_digits) and normalise_phone(stored, org.country_calling_code) == given_digits
