"""The canonical transaction: the one shape every connector produces and every
loyalty-core client consumes.

Normal forms: amounts are ints in the currency's minor unit (see bridge.money),
currencies are ISO 4217 codes, datetimes are aware UTC, phones are E.164.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any, Mapping


class Kind(str, enum.Enum):
    SALE = "sale"
    REFUND = "refund"
    VOID = "void"


@dataclass(frozen=True)
class Customer:
    email: str | None = None  # lower-cased
    phone: str | None = None  # E.164, e.g. +61412345678
    barcode: str | None = None  # loyalty card number as scanned
    vendor_customer_id: str | None = None  # the POS's own id; never sent as a loyalty id
    name: str | None = None
    # The loyalty platform's own customer id (Xtarly `customerId`), only where
    # the caller knows it (the generic endpoint's `customer_id`).
    loyalty_id: str | None = None

    @property
    def has_identity(self) -> bool:
        """True when a loyalty core could look the customer up."""
        return bool(self.email or self.phone or self.barcode or self.loyalty_id)

    def merged_with(self, newer: "Customer") -> "Customer":
        """Fill what this one lacks from a newer sighting; never erase."""
        return Customer(
            email=self.email or newer.email,
            phone=self.phone or newer.phone,
            barcode=self.barcode or newer.barcode,
            vendor_customer_id=self.vendor_customer_id or newer.vendor_customer_id,
            name=self.name or newer.name,
            loyalty_id=self.loyalty_id or newer.loyalty_id,
        )


@dataclass(frozen=True)
class Location:
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class LineItem:
    name: str
    quantity: str  # decimal string, as POSes send fractional quantities
    amount_minor: int | None = None
    sku: str | None = None


@dataclass(frozen=True)
class Transaction:
    connection_id: str
    vendor: str  # canonical slug, aliases resolved
    source_id: str  # the vendor's payment / sale / check / refund id
    kind: Kind
    amount_minor: int  # what the customer paid for the goods: tax in, tips out
    currency: str
    occurred_at: datetime  # aware UTC
    customer: Customer = field(default_factory=Customer)
    location: Location = field(default_factory=Location)
    reference: str | None = None  # receipt / invoice number a person can quote
    refund_of: str | None = None  # source_id of the sale a refund reverses
    line_items: tuple[LineItem, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # The vendor's own revision of the object (Lightspeed sale `version`,
    # Square payment `version`): an event older than one already seen is stale.
    source_version: int | None = None
    # The store's own business date where the vendor states it (Toast
    # `businessDate`); otherwise the bridge derives it from occurred_at in the
    # connection's time zone (bridge.receipts).
    business_date: date | None = None
    # The total printed on the receipt, where it differs from amount_minor
    # (Square's total_money includes the tip that earns no points).
    receipt_total_minor: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError("amount_minor must be an int in minor units")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(timezone.utc))

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.connection_id, self.vendor, self.source_id, self.kind)

    def with_customer(self, customer: Customer) -> "Transaction":
        return replace(self, customer=customer)


def idempotency_key(connection_id: str, vendor: str, source_id: str, kind: Kind | str) -> str:
    """Stable across retries, replays and every vendor event about the same sale.

    Derived from the sale, never from the event: Square sends payment.created and
    several payment.updated for one payment, each with its own event id.
    """
    kind_value = kind.value if isinstance(kind, Kind) else kind
    material = f"{connection_id}\x1f{vendor}\x1f{source_id}\x1f{kind_value}".encode()
    return "lb_" + hashlib.sha256(material).hexdigest()[:40]
