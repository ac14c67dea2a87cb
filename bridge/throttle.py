"""Per-target delivery throttling: one token bucket per loyalty-core account,
shared by every worker (in Redis; in the process itself in embedded mode).

A core that throttles (Cockato: "more than 1,000 transactions a minute may be
throttled") answers 429 to a backlog drained at full speed, and each 429 is
an attempt spent and a back-off. Over its budget a delivery is not attempted:
it is rescheduled for when a token is back, its attempt count unchanged.

The rate is the core's limit, `N/PERIOD` (`1000/min`, `20/s`, `50/10s`). A
core counts over a sliding window, so the bucket is sized to stay under it:
a burst of 5% of N (at least 1) plus a refill of the rest over the period,
less 5% more for network jitter, never puts more than N requests in any
window of PERIOD.
"""

from __future__ import annotations

import hashlib
import re

from bridge.buckets import Buckets, Rate, SharedBuckets
from bridge.durations import parse_duration

# The documented limits; a connection's `target_rate` setting overrides them.
DEFAULT_TARGET_RATES = {"cockato": "1000/min", "xtarly": "off"}  # Xtarly publishes no limit
BURST_SHARE = 0.05
JITTER_HEADROOM = 0.95
_PERIOD_WORDS = {"s": "1s", "sec": "1s", "second": "1s", "m": "1m", "min": "1m", "minute": "1m",
                 "h": "1h", "hour": "1h"}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\S+)\s*$")


def parse_target_rate(text: str | None) -> Rate | None:
    """`N/PERIOD` → the bucket that keeps under it; `off` → None (no throttling)."""
    if text is None or text.strip().lower() == "off":
        return None
    match = _RATE.match(text)
    try:
        if not match:
            raise ValueError
        count, period = int(match.group(1)), parse_duration(_PERIOD_WORDS.get(match.group(2), match.group(2)))
    except ValueError:
        raise ValueError(f"target_rate must read N/PERIOD, like 1000/min or 20/s, or off: {text!r}") from None
    if count < 1 or period <= 0:
        raise ValueError(f"target_rate needs at least 1 request in a positive period: {text!r}")
    burst = max(1.0, float(int(count * BURST_SHARE)))
    return Rate(burst=burst, per_second=(count - burst) / period * JITTER_HEADROOM)


def rate_for(target_kind: str, settings: dict | None) -> Rate | None:
    text = (settings or {}).get("target_rate") or DEFAULT_TARGET_RATES.get(target_kind, "off")
    return parse_target_rate(text)


def bucket_key(target_url: str, target_key: str) -> str:
    """One bucket per core account (URL and API key), whichever connections share it;
    hashed, so no key ever reaches Redis."""
    return hashlib.sha256(f"{target_url}\n{target_key}".encode()).hexdigest()[:32]


def buckets_for(redis_url: str | None) -> Buckets | SharedBuckets:
    return SharedBuckets(redis_url, "bridge:throttle:") if redis_url else Buckets()
