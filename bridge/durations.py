"""Durations as operators write them: 30s, 15m, 6h, 2d (a bare number is seconds)."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r} (write e.g. 30s, 15m, 6h, 2d)")
    number, unit = match.groups()
    return float(number) * _UNITS[unit or "s"]
