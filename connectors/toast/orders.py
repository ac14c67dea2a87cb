"""One Toast order (as the orders webhook or GET /orders/v2/orders sends it) →
the transactions its checks amount to now.

Toast sends the whole order on every change, so this is a desired-state
reading, not an event log: a check that is PAID or CLOSED should have earned
its `totalAmount`; each refund and a void should have taken some back. Each of
those is keyed on its own id (sale and void: the check GUID; refund: the
refund transaction's GUID), and the core never posts a key twice, so a tip
adjustment, a capture or a re-close changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable

import phonenumbers

from bridge.contract import ConnectionContext
from bridge.errors import PayloadError
from bridge.identity import normalize_email, normalize_phone
from bridge.model import Customer, Kind, Location, Transaction
from bridge.money import currency_exponent, to_minor
from connectors.toast.payload import Node

# ISO 4217 "no currency": the connection has none, and enrich reads the
# restaurant's from Toast's restaurants API before anything is delivered.
CURRENCY_FROM_TOAST = "XXX"
AWARDABLE = {"PAID", "CLOSED"}


def minor_units(amount: Decimal, currency: str) -> int:
    """Round once, half-up, to the currency's exponent (line taxes carry 8 decimals)."""
    step = Decimal(1).scaleb(-currency_exponent(currency))
    return to_minor(amount.quantize(step, rounding=ROUND_HALF_UP), currency)


def phone_of(phone: str | None, country_code: str | None, country: str | None) -> str | None:
    """E.164 from Toast's free-format phone. `phoneCountryCode`'s format is not
    documented: the restaurants API calls its own one numeric (`1`, `+61`);
    a two-letter region is accepted too."""
    if not phone or phone.strip().startswith("+"):
        return normalize_phone(phone, None)
    code = (country_code or "").strip().lstrip("+")
    if code.isdigit():
        region = phonenumbers.region_code_for_country_code(int(code))
        if region != "ZZ":
            return normalize_phone(phone, region)
    elif len(code) == 2 and code.isalpha():
        return normalize_phone(phone, code.upper())
    return normalize_phone(phone, country)


def customer_of(check: Node, country: str | None) -> Customer:
    found = Customer()
    guest = check.child("customer", required=False)
    if guest is not None:
        name = " ".join(p for p in (guest.text("firstName"), guest.text("lastName")) if p) or None
        found = Customer(email=normalize_email(guest.text("email")),
                         phone=phone_of(guest.text("phone"), guest.text("phoneCountryCode"), country),
                         vendor_customer_id=guest.text("guid"), name=name)
    loyalty = check.child("appliedLoyaltyInfo", required=False)
    # Only an INTEGRATION identifier is ours (a card number we issued); TOAST,
    # PUNCHH... belong to other programmes, and the masked one is for display.
    if loyalty is not None and loyalty.text("vendor") == "INTEGRATION":
        return Customer(email=found.email, phone=found.phone, barcode=loyalty.text("loyaltyIdentifier"),
                        vendor_customer_id=found.vendor_customer_id, name=found.name)
    return found


def _refunds(check: Node) -> Iterable[tuple[Node, Node, Decimal]]:
    for payment in check.children("payments"):
        refund = payment.child("refund", required=False)
        amount = refund.money("refundAmount") if refund is not None else None
        if amount:
            yield payment, refund, amount


def _paid_before_void(check: Node) -> bool:
    return (check.text("paymentStatus") in AWARDABLE or check.text("paidDate") is not None
            or bool(check.children("payments")))


class OrderReader:
    def __init__(self, envelope: Node, connection: ConnectionContext) -> None:
        self.connection = connection
        details = envelope.child("details")
        self.restaurant = details.text("restaurantGuid", required=True)
        self.order = details.child("order")
        self.order_guid = self.order.text("guid", required=True)
        # No source_version from modifiedDate: no Toast change moves a key
        # backwards, and the core's stale rule would drop the guest details a
        # late, older event brings.
        self.fallback_time = self.order.when("modifiedDate") or envelope.when("timestamp")
        if self.fallback_time is None:
            raise PayloadError("missing: neither details.order.modifiedDate nor timestamp", path="timestamp")
        self.currency = connection.currency or CURRENCY_FROM_TOAST
        self.transactions: list[Transaction] = []
        self.reasons: list[str] = []

    def read(self) -> "OrderReader":
        order_voided, order_deleted = self.order.flag("voided"), self.order.flag("deleted")
        checks = self.order.children("checks")
        if not checks:
            self.reasons.append(f"order {self.order_guid} has no checks")
        for check in checks:
            self._check(check, order_voided, order_deleted)
        return self

    def _check(self, check: Node, order_voided: bool, order_deleted: bool) -> None:
        guid = check.text("guid", required=True)
        status = check.text("paymentStatus")
        if order_deleted or check.flag("deleted"):
            # Toast sets `deleted` when a check moves into another order: not a void.
            self.reasons.append(f"check {guid} was deleted (moved into another order)")
        elif order_voided or check.flag("voided"):
            self._void(check, guid)
        elif status not in AWARDABLE:
            self.reasons.append(f"check {guid} is {status or 'without a payment status'}, not PAID or CLOSED")
        else:
            total = check.money("totalAmount", required=True)
            if total <= 0:
                self.reasons.append(f"check {guid} totals {total}: nothing to award")
                return
            occurred = check.when("paidDate") or check.when("closedDate") or self.order.when("paidDate")
            self._add(check, guid, Kind.SALE, total, occurred, customer_of(check, self.connection.country))
            # A reversal names no customer of its own: it reaches the guest through
            # the sale it reverses (refund_of), so a check that never awarded
            # takes nothing back from anyone.
            for payment, refund, amount in _refunds(check):
                refund_id = (refund.child("refundTransaction", required=False) or Node({})).text("guid")
                self._add(check, refund_id or f"{payment.text('guid', required=True)}.refund", Kind.REFUND,
                          amount, refund.when("refundDate"), Customer(), refund_of=guid)

    def _void(self, check: Node, guid: str) -> None:
        if not _paid_before_void(check):
            self.reasons.append(f"check {guid} was voided before payment: nothing was awarded")
            return
        # totalAmount is "reduced by voids": when a full void leaves it at 0,
        # the voided payments still carry what was paid.
        total = check.money("totalAmount") or sum(
            (p.money("amount") or Decimal(0) for p in check.children("payments")), Decimal(0))
        remaining = total - sum((amount for _, _, amount in _refunds(check)), Decimal(0))
        if remaining <= 0:
            self.reasons.append(f"check {guid} was voided with nothing left to reverse")
            return
        occurred = check.when("voidDate") or self.order.when("voidDate")
        self._add(check, guid, Kind.VOID, remaining, occurred, Customer(), refund_of=guid)

    def _add(self, check: Node, source_id: str, kind: Kind, amount: Decimal, occurred: datetime | None,
             customer: Customer, refund_of: str | None = None) -> None:
        self.transactions.append(Transaction(
            connection_id=self.connection.id, vendor="toast", source_id=source_id, kind=kind,
            amount_minor=0 if self.currency == CURRENCY_FROM_TOAST else minor_units(amount, self.currency),
            currency=self.currency, occurred_at=occurred or self.fallback_time,
            customer=customer, location=Location(id=self.restaurant), reference=check.text("displayNumber"),
            refund_of=refund_of, business_date=self.order.business_date("businessDate"),
            metadata={"amount": str(amount), "order_guid": self.order_guid, "check_guid": check.text("guid"),
                      "restaurant_guid": self.restaurant, "payment_status": check.text("paymentStatus"),
                      "order_source": self.order.text("source")},
        ))
