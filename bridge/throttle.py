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
import logging
import re

from bridge.durations import parse_duration
from bridge.web.limits import Buckets, Rate

log = logging.getLogger("bridge.throttle")

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
    return "bridge:throttle:" + hashlib.sha256(f"{target_url}\n{target_key}".encode()).hexdigest()[:32]


# Atomic in Redis, on Redis's clock, so every worker on every machine shares one bucket.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisBuckets:
    """The same contract as bridge.web.limits.Buckets (`take` → 0 or seconds to wait)."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.redis.register_script(_TAKE)
        self.fallback = Buckets()

    def take(self, key: str, rate: Rate) -> float:
        try:
            return float(self.script(keys=[key], args=[rate.per_second, rate.burst]))
        except Exception as error:  # Redis away: throttle in this process rather than not at all
            log.warning("throttle bucket unavailable (%s); throttling in this process", type(error).__name__)
            return self.fallback.take(key, rate)


def buckets_for(redis_url: str | None):
    return RedisBuckets(redis_url) if redis_url else Buckets()
