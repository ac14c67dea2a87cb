"""One Lightspeed X-Series sale → one canonical transaction, or the reason it awards nothing.

Reads the shapes a sale comes in: the webhook's `payload` (API 1.0
`register_sale`: `totals{total_price,...}`, embedded `customer`), API 2.0's
`GET /sales/{id}` (`total_price`/`total_tax` at the top, `customer_id` only),
and the dated API's (`state`, `totals{price,tax}`, `return.original_sale_id`,
`_metadata.version`), which replaces the others as versions retire.
Sources: docs/vendors/lightspeed.md §4 and §6 (EX, ST, SA, RET, Spec 2.0, Spec 2026-07).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from bridge.contract import ConnectionContext
from bridge.errors import PayloadError
from bridge.identity import normalize_email, normalize_phone
from bridge.model import Customer, Kind, Location, Transaction
from bridge.money import currency_exponent, to_minor
from bridge.untrusted import get_object, get_str

VENDOR = "lightspeed"
# ST / Spec 2.0: a completed sale. The delivery, pickup and service `_CLOSED`
# states award too: our reading of "completed" (the vendor notes say so).
AWARDED = frozenset({"CLOSED", "ONACCOUNT_CLOSED", "LAYBY_CLOSED",
                     "DISPATCHED_CLOSED", "PICKED_UP_CLOSED", "SERVICE_CLOSED"})
# Not finished yet: a later sale.update brings the closed status.
NOT_YET = {
    "SAVED": "parked",
    "OPEN": "open on the register",
    "ONACCOUNT": "on account, not paid off",
    "LAYBY": "on layby, not paid off",
    "AWAITING_DISPATCH": "awaiting dispatch",
    "AWAITING_PICKUP": "awaiting pickup",
    "SERVICE": "a service order in progress",
}
VOIDED = "VOIDED"
# SA: `status` is being replaced by `state`; read it only when status is absent.
STATE_AS_STATUS = {"closed": "CLOSED", "voided": VOIDED, "parked": "SAVED", "pending": "OPEN"}
# EX: a sale with no real customer points at the retailer's default customer.
WALK_IN_CODE = "WALKIN"
# Fields only a sale carries (EX, Spec 2.0); OPEN is left out of the status
# test because consignments use it too.
_SALE_FIELDS = frozenset({"register_sale_products", "register_sale_payments", "invoice_number", "return_for"})
_SALE_STATUSES = (AWARDED | set(NOT_YET) | {VOIDED}) - {"OPEN"}


def looks_like_sale(payload: dict) -> bool:
    if _SALE_FIELDS & payload.keys() or payload.get("status") in _SALE_STATUSES:
        return True
    return payload.get("state") in STATE_AS_STATUS and "line_items" in payload


def not_awarded_reason(sale: dict) -> str | None:
    """Why this sale's status gives nothing to store, or None to go on."""
    status = sale_status(sale)
    sale_id = get_str(sale, "id")
    if status in NOT_YET:
        return (f"Lightspeed sale {sale_id} is {status} ({NOT_YET[status]}); "
                "the sale.update that completes it awards")
    if status not in AWARDED and status != VOIDED:
        return f"Lightspeed sale {sale_id} has status {status}, which this connector does not award"
    return None


def sale_status(sale: dict) -> str:
    status = get_str(sale, "status", required=False)
    if status:
        return status.upper()
    state = get_str(sale, "state").lower()
    return STATE_AS_STATUS.get(state, state.upper())


def sale_transaction(sale: dict, customer: dict | None, connection: ConnectionContext,
                     currency: str) -> Transaction | str:
    """The transaction this sale amounts to, or the reason it is not one."""
    reason = not_awarded_reason(sale)
    if reason:
        return reason
    sale_id = get_str(sale, "id")
    total = sale_total(sale, include_tax=connection.flag("include_tax", True))
    return_for = (get_str(sale, "return_for", required=False)
                  or get_str(sale, "return.original_sale_id", required=False))
    # RET: a return is its own sale with negative totals; the webhook example
    # does not show `return_for`, so the sign alone also makes a return.
    is_return = bool(return_for) or total < 0
    who = customer_of(customer, get_str(sale, "customer_id", required=False), connection.country)
    if sale_status(sale) == VOIDED:
        if is_return:
            return f"Lightspeed return {sale_id} was voided; a voided return posts nothing"
        # Identity only through the awarded sale (refund_of): a sale voided
        # before it ever closed has none, so nothing can be taken back.
        kind, amount, refund_of = Kind.VOID, total, sale_id
        who = Customer(vendor_customer_id=who.vendor_customer_id)
    elif is_return:
        kind, amount, refund_of = Kind.REFUND, -total, return_for
    else:
        kind, amount, refund_of = Kind.SALE, total, None
    if amount == 0:
        return f"Lightspeed sale {sale_id} totals zero: nothing to {'reverse' if kind == Kind.VOID else 'award'}"
    return Transaction(
        connection_id=connection.id,
        vendor=VENDOR,
        source_id=sale_id,
        kind=kind,
        amount_minor=minor_units(amount, currency),
        currency=currency,
        occurred_at=sale_time(sale),
        customer=who,
        location=Location(id=get_str(sale, "outlet_id", required=False)),
        reference=get_str(sale, "invoice_number", required=False) or get_str(sale, "receipt_number", required=False),
        refund_of=refund_of,
        source_version=version_of(sale),
        metadata={
            "status": sale_status(sale),
            "register_id": get_str(sale, "register_id", required=False),
            "short_code": get_str(sale, "short_code", required=False),
            "return_for": return_for,
        },
    )


def sale_total(sale: dict, include_tax: bool) -> Decimal:
    """`total_price` is tax-exclusive (Spec 2.0); the customer paid it plus `total_tax`."""
    totals = get_object(sale, "totals", required=False)
    if totals is None:
        price, tax = "total_price", "total_tax"
    elif "total_price" in totals:
        price, tax = "totals.total_price", "totals.total_tax"
    else:
        price, tax = "totals.price", "totals.tax"
    total = decimal_at(sale, price)
    return total + decimal_at(sale, tax) if include_tax else total


def minor_units(amount: Decimal, currency: str) -> int:
    """Rounded once, half-up, to the currency's exponent: rounding each part
    first can be a cent off (9.995 + 1.505 is 11.50, not 10.00 + 1.51)."""
    step = Decimal(1).scaleb(-currency_exponent(currency))
    return to_minor(amount.quantize(step, rounding=ROUND_HALF_UP), currency)


def decimal_at(document: dict, path: str) -> Decimal:
    """Lightspeed money: 5-place decimal strings, or JSON numbers read as Decimal."""
    parent_path, _, name = path.rpartition(".")
    parent = get_object(document, parent_path) if parent_path else document
    value = parent.get(name)
    if value is None:
        raise PayloadError("missing", path=path)
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise PayloadError("expected a decimal amount", path=path)
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise PayloadError(f"not a decimal amount: {value!r}", path=path) from None
    if not amount.is_finite():
        raise PayloadError(f"not a finite amount: {value!r}", path=path)
    return amount


def sale_time(sale: dict) -> datetime:
    for path in ("sale_date", "created_at", "updated_at"):
        text = get_str(sale, path, required=False)
        if text:
            return timestamp(text, path)
    raise PayloadError("missing", path="sale_date")


def timestamp(text: str, path: str) -> datetime:
    """EX mixes `2017-12-06 04:30:39` (UTC, no zone: Spec 2.0), `…Z` and `…+00:00`."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PayloadError(f"not a Lightspeed time: {text!r}", path=path) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def version_of(document: dict) -> int | None:
    """The object's auto-incrementing version, the only ordering Lightspeed gives."""
    path = "version"
    value = document.get(path)
    if value is None:
        path = "_metadata.version"
        metadata = document.get("_metadata")
        value = metadata.get("version") if isinstance(metadata, dict) else None
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError("expected an integer", path=path)
    return value


def customer_of(document: dict | None, customer_id: str | None, country: str | None) -> Customer:
    """Email, phone (E.164 with the connection's country) and `customer_code`,
    "used for claiming loyalty" (Spec 2.0), as the barcode; the walk-in
    default customer is no customer at all."""
    if not document:
        return Customer(vendor_customer_id=customer_id)
    code = get_str(document, "customer_code", required=False)
    if code and code.strip().upper() == WALK_IN_CODE:
        return Customer()
    # Phones are free text ("021111111", "+001 555 12345678" in EX).
    phone = (normalize_phone(get_str(document, "mobile", required=False), country)
             or normalize_phone(get_str(document, "phone", required=False), country))
    name = " ".join(part for part in (get_str(document, "first_name", required=False),
                                      get_str(document, "last_name", required=False)) if part)
    return Customer(
        email=normalize_email(get_str(document, "email", required=False)),
        phone=phone,
        barcode=code.strip() if code else None,
        vendor_customer_id=get_str(document, "id", required=False) or customer_id,
        name=name or None,
    )
