"""Money in minor units, with each currency's real ISO 4217 exponent."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import iso4217

from bridge.errors import PayloadError


def currency_exponent(code: str) -> int:
    """ISO 4217 minor-unit exponent: JPY 0, USD 2, KWD 3."""
    try:
        exponent = iso4217.Currency(code.upper()).exponent
    except (ValueError, KeyError, AttributeError):
        raise PayloadError(f"unknown currency {code!r}", path="currency") from None
    if exponent is None:  # precious metals, testing codes: no minor unit
        raise PayloadError(f"currency {code!r} has no minor unit", path="currency")
    return exponent


def normalize_currency(code: object, path: str = "currency") -> str:
    if not isinstance(code, str) or not code.strip():
        raise PayloadError("currency missing", path=path)
    code = code.strip().upper()
    currency_exponent(code)
    return code


def to_minor(amount: Decimal | str | int, currency: str, path: str = "amount") -> int:
    """Major units (a decimal string or Decimal, never a float) to minor units.

    Refuses more decimals than the currency has rather than rounding someone's
    money silently.
    """
    if isinstance(amount, float):
        raise TypeError("money is never a float")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise PayloadError(f"not a decimal amount: {amount!r}", path=path) from None
    if not value.is_finite():
        raise PayloadError(f"not a finite amount: {amount!r}", path=path)
    scaled = value.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise PayloadError(
            f"{amount} has more decimals than {currency} allows", path=path
        )
    return int(scaled)


def format_minor(amount_minor: int, currency: str) -> str:
    exponent = currency_exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-exponent):.{exponent}f} {currency}"
