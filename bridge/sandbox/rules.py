"""How the sandbox core turns a purchase into an award, as each platform documents it.

All money math is exact (Fraction): a float would turn 1999 minor units into
19.989999... points on some rates and award one point too few.
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # models imports this module; only type hints flow back
    from .models import Customer, Program


def exact_number(value: Any, allow_text: bool = False) -> Fraction | None:
    """A JSON number as an exact Fraction, or None if it is not a finite number.

    Floats go through their shortest decimal text so 19.99 means 1999/100, not
    the binary approximation. `bool` is excluded: JSON true is not an amount.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float) or (allow_text and isinstance(value, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return Fraction(number) if number.is_finite() else None
    return None


def whole_toward_zero(value: Fraction) -> int:
    """Floor for awards, toward zero for refunds: a -19.99 refund takes back 19 points,
    mirroring what the original +19.99 sale earned."""
    return math.floor(value) if value >= 0 else math.ceil(value)


def xtarly_award(program: Program, customer: Customer, amount: Fraction) -> tuple[int, int]:
    """(points, stamps) Xtarly grants for one transaction of `amount` minor units."""
    if program.type == "stamps":
        # One stamp per purchase whatever the amount; a refund earns none.
        return 0, (1 if amount >= 0 else 0)
    earned = amount / program.currency_unit * program.points_per_currency
    if program.type == "tiers":
        earned *= program.multiplier_for(customer.tier)
    return whole_toward_zero(earned), 0


def cockato_points(amount_minor: int, points_per_currency: Fraction) -> int:
    return whole_toward_zero(Fraction(amount_minor, 100) * points_per_currency)


_NON_DIGITS = re.compile(r"\D")


def normalise_phone(raw: str, calling_code: str) -> str:
    """Digits of the number in international form, so 0412345678, +61412345678 and
    61412345678 compare equal for an Australian org (Cockato's documented behaviour)."""
    text = raw.strip()
    digits = _NON_DIGITS.sub("", text)
    if text.startswith("+"):
        return digits
    if digits.startswith("00"):
        # International dialling prefix (00 61 ...) used from AU, NZ and Europe.
        return digits[2:]
    if digits.startswith("0"):
        return calling_code + digits[1:]
    return digits


def is_iso8601(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
