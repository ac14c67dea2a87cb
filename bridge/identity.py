"""Customer identity in normal form: lower-cased emails, E.164 phones."""

from __future__ import annotations

import phonenumbers


def normalize_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return None
    return value.strip().lower()


def normalize_phone(value: str | None, default_country: str | None) -> str | None:
    """E.164, or None when the number cannot be read as a valid phone.

    A number without a country code needs the connection's --country.
    """
    if not value or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, (default_country or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked(kind: str | None, value: str | None) -> str | None:
    """What logs and support lists may show of a customer's identity."""
    if not value:
        return None
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return "…" + value[-4:] if len(value) > 4 else "…"
