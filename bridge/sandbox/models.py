"""Organizations, reward programs and customers of the sandbox core.

Both the demo seed (seed.py) and `POST /_sandbox/orgs` describe an org with the
same JSON shape; `organization_from_spec` is the single place that shape is
read, so a test-built org behaves exactly like a seeded one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .rules import exact_number

APIS = ("xtarly", "cockato")
PROGRAM_TYPES = ("points", "tiers", "stamps")

# Cockato normalises local phone numbers with the org's country. A short table
# covers the demo markets; `country_calling_code` in a spec handles any other.
COUNTRY_CALLING_CODES = {
    "AU": "61", "NZ": "64", "GB": "44", "IE": "353", "US": "1", "CA": "1",
    "MX": "52", "SG": "65", "JP": "81", "KW": "965",
}

# Cockato says more than 1,000 transactions a minute "may be throttled".
DEFAULT_COCKATO_RATE_LIMIT = 1000


class SpecError(ValueError):
    """An org or customer description that cannot be loaded; its message is shown to the caller."""


@dataclass
class Customer:
    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    barcode: str | None = None
    tier: str | None = None
    points: int = 0
    stamps: int = 0  # Cockato calls these punches

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "email": self.email,
            "phone": self.phone, "barcode": self.barcode, "tier": self.tier,
            "points": self.points, "stamps": self.stamps,
        }


@dataclass
class Program:
    """An Xtarly reward program; field names follow Xtarly's camelCase in specs."""

    type: str
    currency_unit: Fraction = Fraction(100)
    points_per_currency: Fraction = Fraction(1)
    tier_multipliers: dict[str, Fraction] = field(default_factory=dict)

    def multiplier_for(self, tier: str | None) -> Fraction:
        # A customer without a known tier earns at the base rate.
        return self.tier_multipliers.get((tier or "").lower(), Fraction(1))

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "currencyUnit": _plain(self.currency_unit),
            "pointsPerCurrency": _plain(self.points_per_currency),
            "tierMultipliers": {t: _plain(m) for t, m in self.tier_multipliers.items()},
        }


@dataclass
class Organization:
    api: str
    name: str
    key: str
    program: Program | None = None  # Xtarly only; None means "no active program"
    accepts_negative: bool = False  # Xtarly only: a refund posted as a negative amount
    country: str | None = None
    country_calling_code: str = "61"
    points_per_currency: Fraction = Fraction(1)  # Cockato only
    rate_limit_per_minute: int | None = None
    # The throttle's sliding window: a minute, as Cockato says; shorter in tests.
    rate_limit_window_seconds: float = 60.0
    customers: dict[str, Customer] = field(default_factory=dict)

    def as_dict(self, with_customers: bool = True) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "api": self.api, "org": self.name, "key": self.key,
            "program": self.program.as_dict() if self.program else None,
            "accepts_negative": self.accepts_negative, "country": self.country,
            "country_calling_code": self.country_calling_code,
            "points_per_currency": _plain(self.points_per_currency),
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "rate_limit_window_seconds": self.rate_limit_window_seconds,
        }
        if with_customers:
            summary["customers"] = [c.as_dict() for c in self.customers.values()]
        return summary


def organization_from_spec(spec: Any) -> Organization:
    if not isinstance(spec, dict):
        raise SpecError("org spec must be a JSON object")
    api = spec.get("api")
    if api not in APIS:
        raise SpecError(f"api must be one of {', '.join(APIS)}")
    org = Organization(
        api=api,
        name=_required_text(spec, "org"),
        key=_required_text(spec, "key"),
        accepts_negative=bool(spec.get("accepts_negative", False)),
        program=_program_from_spec(spec.get("program")) if api == "xtarly" else None,
        points_per_currency=_positive(spec.get("points_per_currency", 1), "points_per_currency"),
        rate_limit_per_minute=_rate_limit(spec, api),
        rate_limit_window_seconds=float(_positive(spec.get("rate_limit_window_seconds", 60),
                                                  "rate_limit_window_seconds")),
    )
    org.country, org.country_calling_code = _country(spec)
    for customer_spec in spec.get("customers") or []:
        customer = customer_from_spec(customer_spec)
        if customer.id in org.customers:
            raise SpecError(f"duplicate customer id {customer.id!r}")
        org.customers[customer.id] = customer
    return org


def customer_from_spec(spec: Any) -> Customer:
    if not isinstance(spec, dict):
        raise SpecError("each customer must be a JSON object")
    customer_id = _required_text(spec, "id")
    optional = {name: _optional_text(spec, name) for name in ("email", "phone", "barcode", "tier")}
    balances = {name: spec.get(name, 0) for name in ("points", "stamps")}
    if "punches" in spec:
        balances["stamps"] = spec["punches"]
    for name, value in balances.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise SpecError(f"customer {name} must be an integer")
    return Customer(id=customer_id, name=_optional_text(spec, "name") or customer_id,
                    **optional, **balances)


def _program_from_spec(spec: Any) -> Program | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type") not in PROGRAM_TYPES:
        raise SpecError(f"program.type must be one of {', '.join(PROGRAM_TYPES)}")
    multipliers = spec.get("tierMultipliers") or {}
    if not isinstance(multipliers, dict):
        raise SpecError("program.tierMultipliers must be an object of tier -> multiplier")
    return Program(
        type=spec["type"],
        currency_unit=_positive(spec.get("currencyUnit", 100), "program.currencyUnit"),
        points_per_currency=_positive(spec.get("pointsPerCurrency", 1), "program.pointsPerCurrency"),
        tier_multipliers={str(tier).lower(): _positive(value, f"tierMultipliers.{tier}")
                          for tier, value in multipliers.items()},
    )


def _country(spec: dict) -> tuple[str | None, str]:
    country = _optional_text(spec, "country")
    explicit_code = spec.get("country_calling_code")
    if explicit_code is not None:
        code = str(explicit_code).lstrip("+")
        if not code.isdigit():
            raise SpecError("country_calling_code must be digits, e.g. 61")
        return country, code
    if country is None:
        return None, "61"  # the seeded markets are Australian
    code = COUNTRY_CALLING_CODES.get(country.upper())
    if code is None:
        raise SpecError(f"unknown country {country!r}: give country_calling_code too")
    return country.upper(), code


def _rate_limit(spec: dict, api: str) -> int | None:
    default = DEFAULT_COCKATO_RATE_LIMIT if api == "cockato" else None
    value = spec.get("rate_limit_per_minute", default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError("rate_limit_per_minute must be a positive integer or null")
    return value


def _positive(value: Any, name: str) -> Fraction:
    number = exact_number(value, allow_text=True)
    if number is None or number <= 0:
        raise SpecError(f"{name} must be a positive number")
    return number


def _required_text(spec: dict, name: str) -> str:
    value = _optional_text(spec, name)
    if value is None:
        raise SpecError(f"{name} is required")
    return value


def _optional_text(spec: dict, name: str) -> str | None:
    value = spec.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"{name} must be a string")
    return value.strip() or None


def _plain(number: Fraction) -> int | float:
    """A JSON-friendly rendering for summaries only; award math never uses it."""
    return int(number) if number.denominator == 1 else float(number)
