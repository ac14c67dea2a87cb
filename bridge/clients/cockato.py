"""Cockato's pos-transaction endpoint: one POST per sale.

Cockato does not publish its body's field names; ours are below, in one place,
and documented in docs/loyalty-cores.md. Every identity we have goes in the
same call: Cockato looks the customer up by whichever one it knows.
"""

from __future__ import annotations

from typing import Any

from bridge.clients.base import Awarded, Delivery, OutboundRequest, TargetClient, as_int, as_str
from bridge.errors import Unmatched

FIELDS = {
    "barcode": "barcode",
    "email": "email",
    "phone": "phone",
    "customer_id": "customer_id",
    "amount": "amount",
    "currency": "currency",
    "outlet_id": "outlet_id",
    "outlet_name": "outlet_name",
    "transaction_date": "transaction_date",
    "reference": "reference",
    "metadata": "metadata",
}


class CockatoClient(TargetClient):
    name = "cockato"
    display_name = "Cockato"
    identifies_by = ("barcode", "email", "phone", "loyalty_customer_id")

    def build(self, delivery: Delivery, target_url: str, target_key: str) -> OutboundRequest:
        if not (delivery.barcode or delivery.email or delivery.phone or delivery.loyalty_customer_id):
            raise Unmatched("Cockato needs a barcode, email, phone or its customer id; "
                            "this sale carries no customer details")
        values = {
            "barcode": delivery.barcode, "email": delivery.email, "phone": delivery.phone,
            "customer_id": delivery.loyalty_customer_id,
            "amount": delivery.signed_amount, "currency": delivery.currency,
            "outlet_id": delivery.location_id, "outlet_name": delivery.location_name,
            "transaction_date": delivery.occurred_at,
            "reference": delivery.reference or delivery.source_id, "metadata": delivery.trace(),
        }
        body = {FIELDS[name]: value for name, value in values.items() if value is not None}
        return OutboundRequest(
            method="POST", url=target_url,
            headers={"x-api-key": target_key, "Idempotency-Key": delivery.idempotency_key,
                     "Content-Type": "application/json"},
            json=body, secret_headers=("x-api-key",),
        )

    def read_success(self, body: Any) -> Awarded:
        body = body if isinstance(body, dict) else {}
        customer = body.get("customer") if isinstance(body.get("customer"), dict) else {}
        return Awarded(transaction_id=as_str(body.get("transaction_id")),
                       earned_points=as_int(body.get("points_awarded")),
                       balance=as_int(customer.get("points_balance")), raw=body)
