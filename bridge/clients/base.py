"""What a loyalty-core client provides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.model import Kind


@dataclass(frozen=True)
class Delivery:
    """A transaction as the worker hands it to a client (from the store row)."""

    idempotency_key: str
    connection_id: str
    vendor: str
    source_id: str
    kind: Kind
    amount_minor: int
    currency: str
    occurred_at: str  # ISO 8601 UTC
    email: str | None
    phone: str | None
    barcode: str | None
    loyalty_customer_id: str | None
    location_id: str | None
    location_name: str | None
    reference: str | None
    refund_of: str | None
    test: bool = False

    @property
    def signed_amount(self) -> int:
        """Refunds and voids travel as negative amounts (only when a connection asks)."""
        return -self.amount_minor if self.kind in (Kind.REFUND, Kind.VOID) else self.amount_minor

    def trace(self) -> dict[str, Any]:
        """What lets a person in the loyalty platform trace a grant back to the sale."""
        trace = {"source": "loyalty-bridge", "vendor": self.vendor, "source_id": self.source_id,
                 "kind": self.kind.value, "reference": self.reference,
                 "location_id": self.location_id, "occurred_at": self.occurred_at,
                 "refund_of": self.refund_of}
        if self.test:
            trace["test"] = True
        return {key: value for key, value in trace.items() if value is not None}


@dataclass(frozen=True)
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str]
    json: dict[str, Any] = field(default_factory=dict)
    secret_headers: tuple[str, ...] = ()  # masked in the attempt record

    def summary(self) -> dict[str, Any]:
        headers = {name: ("…" + value[-4:] if name in self.secret_headers else value)
                   for name, value in self.headers.items()}
        return {"method": self.method, "url": self.url, "headers": headers, "json": self.json}


@dataclass(frozen=True)
class Awarded:
    """What the core reported for a successful delivery."""

    transaction_id: str | None
    earned_points: int | None
    balance: int | None
    raw: dict[str, Any]


class TargetClient:
    name: str
    display_name: str
    # Identity fields the target can look a customer up by, for the unmatched reason.
    identifies_by: tuple[str, ...]

    def build(self, delivery: Delivery, target_url: str, target_key: str) -> OutboundRequest:
        """The HTTP request; raises Unmatched when the target cannot identify the customer."""
        raise NotImplementedError

    def read_success(self, body: Any) -> Awarded:
        raise NotImplementedError

    def describe_error(self, status_code: int, body: Any) -> str:
        """One line a support engineer can act on, from the core's error body."""
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                code, message = error.get("code"), error.get("message")
                return f"{self.display_name} answered {status_code} {code or ''}: {message or ''}".strip()
            if isinstance(error, str):
                return f"{self.display_name} answered {status_code}: {error}"
        return f"{self.display_name} answered {status_code}"


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: Any) -> str | None:
    return None if value is None else str(value)
