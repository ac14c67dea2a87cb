"""What a customer can read on a receipt, stored with each transaction so a
claim (bridge.claims) is one indexed lookup: the receipt identifier (the
transaction's `reference`), the store's local date and the printed total."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.errors import ConfigError
from bridge.model import Transaction


def zone(name: str | None) -> ZoneInfo | None:
    """The connection's `timezone` setting (IANA, e.g. Australia/Sydney), checked."""
    if not name:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone {name!r}; use an IANA name like Australia/Sydney") from None


def local_date(tx: Transaction, timezone_setting: str | None) -> date:
    """The date printed on the receipt.

    The connection's time zone wins where the merchant set one; otherwise the
    vendor's own business date (Toast), otherwise the UTC date.
    """
    store_zone = zone(timezone_setting)
    if store_zone is not None:
        return tx.occurred_at.astimezone(store_zone).date()
    return tx.business_date or tx.occurred_at.date()


def receipt_key(receipt: str | None) -> str | None:
    """The receipt identifier as a person types it from paper: case, spaces
    and a leading # do not matter (Square's `Hx7k` typed as `HX7K`, Toast's
    `#42` as `42`)."""
    if not receipt:
        return None
    key = re.sub(r"\s+", "", receipt).lstrip("#").upper()
    return key[:64] or None


def receipt_total(tx: Transaction) -> int:
    return tx.receipt_total_minor if tx.receipt_total_minor is not None else tx.amount_minor
