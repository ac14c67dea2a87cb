"""Xtarly's POS-integration ("points") API: POST {base}/transaction.

Body and error codes: the project's loyalty-core notes (Target 1). Xtarly looks
customers up by its own id or by email only: a sale that carries just a phone
or a barcode is unmatched here, kept for replay. Its own id comes only from a
caller that knows it (the generic endpoint's `customer_id`), never from a POS.
"""

from __future__ import annotations

from typing import Any

from bridge.clients.base import Awarded, Delivery, OutboundRequest, TargetClient, as_int, as_str
from bridge.errors import Unmatched


class XtarlyClient(TargetClient):
    name = "xtarly"
    display_name = "Xtarly"
    identifies_by = ("email", "loyalty_customer_id")

    def build(self, delivery: Delivery, target_url: str, target_key: str) -> OutboundRequest:
        if not (delivery.email or delivery.loyalty_customer_id):
            have = [name for name in ("phone", "barcode") if getattr(delivery, name)]
            carried = f"only {' and '.join(have)}" if have else "no customer details"
            raise Unmatched(f"Xtarly matches customers by email or its own customer id; this sale carries {carried}")
        metadata = delivery.trace()
        customer = {"customerId": delivery.loyalty_customer_id, "customerEmail": delivery.email}
        return OutboundRequest(
            method="POST",
            url=f"{target_url.rstrip('/')}/transaction",
            headers={"X-API-Key": target_key, "Idempotency-Key": delivery.idempotency_key,
                     "Content-Type": "application/json"},
            json={"amount": delivery.signed_amount, **{k: v for k, v in customer.items() if v},
                  "metadata": metadata},
            secret_headers=("X-API-Key",),
        )

    def read_success(self, body: Any) -> Awarded:
        data = body.get("data") if isinstance(body, dict) else None
        data = data if isinstance(data, dict) else {}
        return Awarded(transaction_id=as_str(data.get("transactionId")),
                       earned_points=as_int(data.get("earnedPoints")),
                       balance=as_int(data.get("customerPoints")), raw=body if isinstance(body, dict) else {})
