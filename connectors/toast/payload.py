"""Toast's JSON, read with Decimal money and typed getters that name the path.

`bridge.untrusted.load_json` reads numbers as floats; Toast sends money as
JSON numbers in major units (`34.85`), and `34.85 * 100` is
`3484.9999999999995` in float, so this module parses them as `Decimal`.
Paths name list positions too (`details.order.checks[1].totalAmount`), so a
support engineer sees which check was wrong.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from bridge.errors import PayloadError
from bridge.untrusted import load_json


def _refuse_constant(name: str) -> Any:
    raise PayloadError(f"{name} is not a number Toast sends")


def load(body: bytes) -> Any:
    return load_json(body, parse_float=Decimal, parse_constant=_refuse_constant)


class Node:
    """A JSON value and where it sits in the document."""

    __slots__ = ("value", "path")

    def __init__(self, value: Any, path: str = "") -> None:
        self.value = value
        self.path = path

    def _get(self, key: str) -> tuple[Any, str]:
        path = f"{self.path}.{key}" if self.path else key
        if not isinstance(self.value, dict):
            raise PayloadError("expected an object", path=self.path or None)
        return self.value.get(key), path

    def child(self, key: str, required: bool = True) -> "Node | None":
        value, path = self._get(key)
        if value is None:
            if required:
                raise PayloadError("missing", path=path)
            return None
        if not isinstance(value, dict):
            raise PayloadError("expected an object", path=path)
        return Node(value, path)

    def children(self, key: str) -> list["Node"]:
        value, path = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise PayloadError("expected a list", path=path)
        return [Node(item, f"{path}[{index}]") for index, item in enumerate(value)]

    def text(self, key: str, required: bool = False) -> str | None:
        value, path = self._get(key)
        if value is None or value == "":
            if required:
                raise PayloadError("missing", path=path)
            return None
        if not isinstance(value, str):
            raise PayloadError("expected a string", path=path)
        return value

    def flag(self, key: str) -> bool:
        value, path = self._get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise PayloadError("expected true or false", path=path)
        return value

    def money(self, key: str, required: bool = False) -> Decimal | None:
        value, path = self._get(key)
        if value is None:
            if required:
                raise PayloadError("missing", path=path)
            return None
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise PayloadError("expected a number", path=path)
        return Decimal(value)

    def business_date(self, key: str) -> date | None:
        """Toast's `businessDate` is an integer yyyymmdd (cut at the closeout hour)."""
        value, path = self._get(key)
        if value is None:
            return None
        try:
            return datetime.strptime(str(int(value)), "%Y%m%d").date()
        except (TypeError, ValueError):
            raise PayloadError(f"not a yyyymmdd business date: {value!r}", path=path) from None

    def when(self, key: str) -> datetime | None:
        """Toast writes `...30.223+0000` in orders and `...01.050Z` in envelopes."""
        text = self.text(key)
        if text is None:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise PayloadError(f"not an ISO 8601 time: {text!r}", path=f"{self.path}.{key}".lstrip(".")) from None
        if parsed.tzinfo is None:
            raise PayloadError(f"time without a zone: {text!r}", path=f"{self.path}.{key}".lstrip("."))
        return parsed.astimezone(timezone.utc)
