"""Typed readers for the generic body's values. Every value may arrive as a
string (Zapier sends all fields as text, generic.md §1) and "" means absent;
each reader records what to fix at the field's pointer and returns None."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.errors import PayloadError
from bridge.identity import normalize_email, normalize_phone
from bridge.money import currency_exponent, normalize_currency, to_minor

MAX_MINOR = 10**13  # far above any till's sale; below it no typo goes unnoticed
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
FUTURE_TOLERANCE = timedelta(minutes=10)  # tills' clocks drift; hours ahead is a zone error
MAX_METADATA = 20
_AMOUNT = re.compile(r"^(\d+(\.\d*)?|\.\d+)$")
_EXPONENT = re.compile(r"^[\d.]+[eE][+-]?\d+$")
_MINOR = re.compile(r"^\d{1,16}$")
_SECONDS = re.compile(r"^\d{1,15}(\.\d+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def pointer(path: str) -> str:
    parts = [part.replace("~", "~0").replace("/", "~1") for part in path.split("/")] if path else []
    return "#" + "".join("/" + part for part in parts)


class Problems:
    """What to fix, in the order found: RFC 9457 `errors` entries."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []
        self.fields: set[str] = set()

    def add(self, path: str, detail: str) -> None:
        self.errors.append({"detail": detail, "pointer": pointer(path)})
        self.fields.add(path.split("/", 1)[0])

    def about(self, field: str) -> bool:
        return field in self.fields


def absent(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _number_text(value: Decimal) -> str | None:
    if not value.is_finite() or not -40 < value.adjusted() < 40:
        return None
    return format(value, "f")


def text(raw: Any, path: str, problems: Problems, max_length: int = 255) -> str | None:
    if absent(raw):
        return None
    if isinstance(raw, bool):
        problems.add(path, "send text, not true or false")
        return None
    if isinstance(raw, Decimal):
        value = _number_text(raw)
        if value is None:
            problems.add(path, "send text, not an out-of-range number")
            return None
    elif isinstance(raw, str):
        value = raw.strip()
    else:
        problems.add(path, "send a single value, not a list or an object")
        return None
    if len(value) > max_length:
        problems.add(path, f"at most {max_length} characters")
        return None
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        problems.add(path, "remove the line breaks and other control characters")
        return None
    return value


def amount(raw: Any, problems: Problems) -> Decimal | None:
    """Major units; the currency's decimals are checked by `to_minor_units`."""
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, str) and _AMOUNT.match(raw.strip()) and len(raw.strip()) <= 30:
        value = Decimal(raw.strip())
    else:
        problems.add("amount", _amount_hint(raw))
        return None
    if value < 0:
        problems.add("amount", _NEGATIVE)
        return None
    if value.adjusted() > 15:
        problems.add("amount", "is too large for one sale: check the amount")
        return None
    return value


_NEGATIVE = "must be 0 or more: send a refund as kind=refund with a positive amount"


def _amount_hint(raw: Any) -> str:
    if not isinstance(raw, str):
        return "use a number like 12.50 (a single value, not true/false, a list or an object)"
    value = raw.strip()
    if value.startswith("-"):
        return _NEGATIVE
    if _EXPONENT.match(value):
        return "write the number out, like 1500, without an exponent"
    if re.search(r"[^\d.,\s]", value):
        return "send only the number, like 12.50, with no currency sign or code (the code goes in currency)"
    if "," in value:
        return "use a dot for decimals and no thousands separators, like 1234.50"
    return "use a number like 12.50: digits and at most one dot"


def to_minor_units(value: Decimal, currency: str, problems: Problems) -> int | None:
    try:
        minor = to_minor(value, currency)
    except PayloadError:
        exponent = currency_exponent(currency)
        rounded = value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)
        decimals = f"{exponent} decimals" if exponent else "no decimals"
        problems.add("amount", f"{currency} has {decimals}: send {rounded}, not {_number_text(value) or value}")
        return None
    if minor > MAX_MINOR:
        problems.add("amount", "is too large for one sale: check the amount")
        return None
    return minor


def amount_minor(raw: Any, problems: Problems) -> int | None:
    whole = "a whole number of minor units, like 1250 for 12.50 (for a decimal amount, use amount)"
    if isinstance(raw, Decimal):
        if raw < 0:
            problems.add("amount_minor", _NEGATIVE.replace("amount", "amount_minor"))
            return None
        if raw.as_tuple().exponent < 0 or raw.adjusted() > 15:
            problems.add("amount_minor", whole if raw.adjusted() <= 15 else "is too large for one sale")
            return None
        value = int(raw)
    elif isinstance(raw, str) and _MINOR.match(raw.strip()):
        value = int(raw.strip())
    else:
        given = raw.strip() if isinstance(raw, str) else ""
        problems.add("amount_minor", _NEGATIVE.replace("amount", "amount_minor") if given.startswith("-") else
                     "is too large for one sale: check the amount" if given.isdigit() else whole)
        return None
    if value > MAX_MINOR:
        problems.add("amount_minor", "is too large for one sale: check the amount")
        return None
    return value


def currency(raw: Any, default: str | None, problems: Problems) -> str | None:
    code = text(raw, "currency", problems, 16) if not absent(raw) else default
    if code is None:
        if not problems.about("currency"):
            problems.add("currency", "required: send the ISO 4217 code, like AUD "
                                     "(or give the connection a default with --currency)")
        return None
    try:
        return normalize_currency(code)
    except PayloadError as error:
        if "minor unit" in error.message:
            problems.add("currency", f"{code} has no minor unit: send the currency the customer paid in")
        else:
            problems.add("currency", f"{code!r} is not an ISO 4217 currency code: use one like AUD, USD or EUR")
        return None


def email(raw: Any, problems: Problems) -> str | None:
    value = text(raw, "email", problems, 254)
    if value is None:
        return None
    if not _EMAIL.match(value):
        problems.add("email", "not an email address like alice@example.com")
        return None
    return normalize_email(value)


def phone(raw: Any, country: str | None, problems: Problems) -> str | None:
    value = text(raw, "phone", problems, 32)
    if value is None:
        return None
    normal = normalize_phone(value, country)
    if normal is None:
        where = (f" (or a national number of {country})" if country else
                 " (a national number needs the connection's --country)")
        problems.add("phone", f"not a valid phone number: send it in E.164, like +61412345678{where}")
    return normal


def flag(raw: Any, path: str, problems: Problems) -> bool:
    if absent(raw):
        return False
    if isinstance(raw, bool):
        return raw
    word = _number_text(raw) if isinstance(raw, Decimal) else raw.strip().lower() if isinstance(raw, str) else None
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    problems.add(path, "use true or false")
    return False


def occurred_at(raw: Any, zone_name: str, now: datetime, problems: Problems) -> datetime | None:
    if absent(raw):
        return None
    given = _number_text(raw) if isinstance(raw, Decimal) else raw.strip() if isinstance(raw, str) else None
    if given is None:
        problems.add("occurred_at", _TIME_FORMS)
        return None
    if _SECONDS.match(given):
        seconds = Decimal(given)
        if seconds > 10**11:
            problems.add("occurred_at", "looks like Unix milliseconds: send seconds (divide by 1000)")
            return None
        when = datetime.fromtimestamp(0, timezone.utc) + timedelta(
            seconds=int(seconds), microseconds=int((seconds % 1) * 10**6))
    else:
        when = _rfc3339(given, zone_name, problems)
        if when is None:
            return None
    if when < EARLIEST:
        problems.add("occurred_at", "is before 2000: send the sale's own date and time")
        return None
    if when > now + FUTURE_TOLERANCE:
        problems.add("occurred_at", f"is in the future ({when:%Y-%m-%d %H:%M} UTC): give its UTC offset, "
                                    "like 2024-05-01T14:30:00+10:00, or set the connection's timezone")
        return None
    return when


_TIME_FORMS = "use RFC 3339, like 2024-05-01T14:30:00+10:00, or Unix seconds, like 1714537800"


def _rfc3339(given: str, zone_name: str, problems: Problems) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(given)
    except ValueError:
        problems.add("occurred_at", _TIME_FORMS)
        return None
    if parsed.tzinfo is None:
        try:
            parsed = parsed.replace(tzinfo=ZoneInfo(zone_name))
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            problems.add("occurred_at", f"has no UTC offset and the connection's timezone {zone_name!r} is "
                                        "unknown: add the offset, like 2024-05-01T14:30:00+10:00")
            return None
    try:
        return parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        problems.add("occurred_at", "is out of range: send the sale's own date and time")
        return None


def metadata(raw: Any, flat: dict[str, Any], problems: Problems) -> dict[str, str]:
    entries: dict[str, Any] = {}
    if not absent(raw):
        document = _metadata_document(raw)
        if document is None:
            problems.add("metadata", "send an object of text values, that object as a JSON string, "
                                     "or fields named metadata__<name>")
        else:
            entries.update(document)
    entries.update(flat)
    result: dict[str, str] = {}
    for key, value in entries.items():
        name = str(key).strip()
        if not name or len(name) > 64:
            problems.add("metadata", "names must be 1 to 64 characters")
            continue
        if isinstance(value, bool):
            result[name] = "true" if value else "false"
            continue
        value = text(value, f"metadata/{name}", problems, 500)
        if value is not None:
            result[name] = value
    if len(result) > MAX_METADATA:
        problems.add("metadata", f"at most {MAX_METADATA} entries (got {len(result)})")
    return result


def _not_a_number(name: str):
    raise ValueError(name)


def _metadata_document(raw: Any) -> dict | None:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            document = json.loads(raw, parse_float=Decimal, parse_int=Decimal, parse_constant=_not_a_number)
        except (RecursionError, ValueError):
            return None
        return document if isinstance(document, dict) else None
    return None
