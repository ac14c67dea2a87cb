"""Token buckets: `take(key, rate)` answers 0 (go) or the seconds until a token is back;
`take_each([(key, rate), ...])` takes from several in order, stops at the first
that refuses and answers which one and its wait, or None (one round trip to
Redis for all of them).

Two kinds with one contract: `Buckets` in the process (embedded mode), and
`SharedBuckets` in Redis, shared by every process on every machine, on
Redis's clock. Used for ingest limits (bridge.web.limits), receipt-claim
limits, delivery throttling per loyalty core (bridge.throttle) and vendor
API pacing (bridge.reconcile).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import redis

log = logging.getLogger("bridge.buckets")

MAX_BUCKETS = 100_000  # per Buckets; the least recently seen are forgotten first


@dataclass(frozen=True)
class Rate:
    burst: float
    per_second: float

    @classmethod
    def parse(cls, text: str | None) -> "Rate | None":
        """`BURST/PER_SECOND`, e.g. `2000/50`; `off` (or empty) for no limit."""
        if not text or text.strip().lower() == "off":
            return None
        burst, sep, per_second = text.partition("/")
        try:
            rate = cls(float(burst), float(per_second if sep else burst))
        except ValueError:
            raise ValueError(f"rate limit must read BURST/PER_SECOND, like 2000/50, or off: {text!r}") from None
        if rate.burst < 1 or rate.per_second <= 0:
            raise ValueError(f"rate limit needs a burst of at least 1 and a positive rate: {text!r}")
        return rate


class Buckets:
    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take_each(self, wanted: list[tuple[str, Rate]]) -> tuple[int, float] | None:
        for index, (key, rate) in enumerate(wanted):
            if wait := self.take(key, rate):
                return index, wait
        return None

    def take(self, key: str, rate: Rate) -> float:
        """0 when allowed; else the seconds until a token is back."""
        now = self.clock()
        with self.lock:
            tokens, at = self.buckets.pop(key, (rate.burst, now))
            tokens = min(rate.burst, tokens + (now - at) * rate.per_second)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / rate.per_second
            self.buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self.buckets) > MAX_BUCKETS:
                self.buckets.popitem(last=False)
        return wait


# Buckets refilled by elapsed time on Redis's clock (the same for every
# process), taken in order until one refuses: KEYS[i] with ARGV[2i-1] (burst)
# and ARGV[2i] (per second). Returns {i, wait} for the bucket that refused, or
# {0, 0}: Lua's i counts from 1, and the wait is a string since Redis
# truncates Lua numbers.
TAKE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
for i, key in ipairs(KEYS) do
  local burst, per_second = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * per_second)
  local wait = 0
  if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / per_second end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('EXPIRE', key, math.ceil(burst / per_second) + 1)
  if wait > 0 then return {i, tostring(wait)} end
end
return {0, '0'}
"""
FALLBACK_SECONDS = 5.0  # after a Redis error, how long to use the process's own buckets


class SharedBuckets:
    """Buckets in Redis, shared by every process; the process's own while Redis is unreachable."""

    def __init__(self, redis_url: str, prefix: str, clock=time.monotonic) -> None:
        client = redis.Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self.take_script = client.register_script(TAKE_SCRIPT)
        self.prefix, self.clock = prefix, clock
        self.local = Buckets(clock)
        self.redis_down_until = 0.0

    def take(self, key: str, rate: Rate) -> float:
        refused = self.take_each([(key, rate)])
        return refused[1] if refused else 0.0

    def take_each(self, wanted: list[tuple[str, Rate]]) -> tuple[int, float] | None:
        if self.clock() >= self.redis_down_until:
            try:
                number, wait = self.take_script(keys=[f"{self.prefix}{key}" for key, _ in wanted],
                                                args=[x for _, rate in wanted for x in (rate.burst, rate.per_second)])
                return (int(number) - 1, float(wait)) if int(number) else None
            except redis.RedisError as error:
                log.warning("token buckets: Redis unreachable (%s); using this process's own buckets for %gs",
                            type(error).__name__, FALLBACK_SECONDS)
                self.redis_down_until = self.clock() + FALLBACK_SECONDS
        return self.local.take_each(wanted)
