"""The generic body's contract (README.md, schema.json): one validation shared
by `acknowledge`, before the event is stored, and `parse`, in the worker from
the stored bytes, so an accepted request always parses the same way."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bridge.contract import ConnectionContext, InboundRequest
from bridge.errors import ValidationFailed
from bridge.model import Customer, Kind
from connectors.generic import values
from connectors.generic.body import read_fields
from connectors.generic.values import Problems, absent

FIELDS = ("reference", "amount", "amount_minor", "currency", "email", "phone", "barcode", "customer_id",
          "location", "occurred_at", "kind", "refund_of", "metadata", "test")
IDENTITY = ("email", "phone", "barcode", "customer_id")
KINDS = {"sale": Kind.SALE, "refund": Kind.REFUND}
# Zapier flattens nesting to `a__b`; Make and n8n users write `a.b` or `a[b]`.
_FLAT_METADATA = re.compile(r"^metadata(?:__|\.)(?P<dotted>.+)$|^metadata\[(?P<bracketed>[^\]]+)\]$",
                            re.IGNORECASE)


@dataclass(frozen=True)
class Sale:
    reference: str
    kind: Kind
    amount_minor: int
    currency: str
    occurred_at: datetime
    customer: Customer
    location: str | None = None
    refund_of: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    test: bool = False
    ignored_fields: tuple[str, ...] = ()

    def fingerprint(self) -> dict[str, Any]:
        """What a re-post under the same id must repeat; anything else may change."""
        return {"reference": self.reference, "kind": self.kind.value, "refund_of": self.refund_of,
                "amount": self.amount_minor, "currency": self.currency, "email": self.customer.email,
                "phone": self.customer.phone, "barcode": self.customer.barcode,
                "customer_id": self.customer.loyalty_id}


def read_sale(request: InboundRequest, connection: ConnectionContext, now: datetime | None = None) -> Sale:
    """The sale in normal form, or ValidationFailed listing every fix at once."""
    now = now or datetime.now(timezone.utc)
    fields = read_fields(request.body, request.content_type)
    problems = Problems()
    known, flat_metadata, ignored = _sort(fields.values, fields.repeated, problems)
    ignored = [*ignored, *fields.files]

    reference = values.text(known.get("reference"), "reference", problems)
    if reference is None and not problems.about("reference"):
        problems.add("reference", "required: send the sale's receipt or order number, unique per sale"
                     + _typo_hint(("reference",), ignored))
    kind = _kind(known.get("kind"), problems)
    refund_of = values.text(known.get("refund_of"), "refund_of", problems)
    if refund_of is not None and kind is Kind.SALE:
        problems.add("refund_of", "only for refunds: send kind=refund too, or leave refund_of out")
    elif refund_of is not None and refund_of == reference:
        problems.add("refund_of", "names the refunded sale's reference: give the refund a reference of its own")
    amount_minor = _amount(known, connection.currency, problems, ignored)
    currency = values.currency(known.get("currency"), connection.currency, problems)
    customer = _customer(known, connection, problems)
    identities = [name for name in IDENTITY if not absent(known.get(name))]
    if not identities and not (kind is Kind.REFUND and refund_of):
        for_refund = " (a refund may name its sale with refund_of instead)" if kind is Kind.REFUND else ""
        problems.add("", "send email, phone, barcode or customer_id so the loyalty platform can find the customer"
                     + for_refund + _typo_hint(IDENTITY, ignored))
    zone = str(connection.setting("timezone") or "UTC")
    occurred_at = values.occurred_at(known.get("occurred_at"), zone, now, problems)
    metadata = values.metadata(known.get("metadata"), flat_metadata, problems)
    test = values.flag(known.get("test"), "test", problems)
    location = values.text(known.get("location"), "location", problems)
    if problems.errors:
        raise ValidationFailed(errors=problems.errors)

    return Sale(reference=reference, kind=kind, amount_minor=amount_minor, currency=currency,
                occurred_at=occurred_at or _default_time(request, now), customer=customer,
                location=location, refund_of=refund_of, metadata=metadata, test=test,
                ignored_fields=tuple(ignored))


def _sort(raw: dict[str, Any], repeated: tuple[str, ...], problems: Problems):
    """Known fields (names trimmed, any case), flat metadata, and the rest."""
    known: dict[str, Any] = {}
    flat_metadata: dict[str, Any] = {}
    ignored: list[str] = []
    for key in repeated:
        problems.add(key.strip().lower(), "sent more than once with different values: send each field once")
    for key, value in raw.items():
        name = str(key).strip()
        match = _FLAT_METADATA.match(name)
        if match:
            flat_metadata[(match.group("dotted") or match.group("bracketed")).strip()] = value
        elif name.lower() in FIELDS:
            if name.lower() in known and known[name.lower()] != value:
                problems.add(name.lower(), "sent more than once with different values: send each field once")
            known[name.lower()] = value
        else:
            ignored.append(name)
    return known, flat_metadata, ignored


def _typo_hint(wanted: tuple[str, ...], ignored: list[str]) -> str:
    for name in ignored:
        close = difflib.get_close_matches(name.lower(), wanted, n=1, cutoff=0.7)
        if close:
            return f" (the body has {name!r}: did you mean {close[0]}?)"
    return ""


def _kind(raw: Any, problems: Problems) -> Kind:
    word = values.text(raw, "kind", problems, 16)
    if word is None:
        return Kind.SALE
    kind = KINDS.get(word.lower())
    if kind is None:
        problems.add("kind", "use sale or refund")
        return Kind.SALE
    return kind


def _amount(known: dict[str, Any], default_currency: str | None, problems: Problems,
            ignored: list[str]) -> int | None:
    major, minor = known.get("amount"), known.get("amount_minor")
    if not absent(major) and not absent(minor):
        problems.add("amount_minor", "send amount or amount_minor, not both")
        return None
    if not absent(minor):
        return values.amount_minor(minor, problems)
    if absent(major):
        problems.add("amount", "required: send amount in major units, like 12.50, or amount_minor in minor "
                               "units, like 1250" + _typo_hint(("amount", "amount_minor"), ignored))
        return None
    value = values.amount(major, problems)
    currency = values.currency(known.get("currency"), default_currency, Problems())
    if value is None or currency is None:
        return None
    return values.to_minor_units(value, currency, problems)


def _customer(known: dict[str, Any], connection: ConnectionContext, problems: Problems) -> Customer:
    return Customer(
        email=values.email(known.get("email"), problems),
        phone=values.phone(known.get("phone"), connection.country, problems),
        barcode=values.text(known.get("barcode"), "barcode", problems, 128),
        loyalty_id=values.text(known.get("customer_id"), "customer_id", problems),
    )


def _default_time(request: InboundRequest, now: datetime) -> datetime:
    """When the sale was sent: a signed request's timestamp, else when the
    bridge received it (the same on every re-parse and replay)."""
    stamp = (request.header("webhook-timestamp") or "").strip()
    if re.fullmatch(r"[0-9]{1,11}", stamp):
        sent = datetime.fromtimestamp(0, timezone.utc) + timedelta(seconds=int(stamp))
        if values.EARLIEST <= sent <= now + values.FUTURE_TOLERANCE:
            return sent
    return request.received_at or now
