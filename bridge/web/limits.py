"""Ingest rate limits: token buckets per connection and per client address.

Generous by default: a POS catching up after an outage sends hundreds of
requests at once, so a connection takes a burst of 2,000 before any 429 (the
interface promises at least 1,000), refilled at 50 a second. Buckets live in
each web process: with W processes behind a balancer the effective limit is
up to W times higher, which errs on the side of never refusing a real POS.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from bridge.errors import BridgeError

MAX_BUCKETS = 100_000  # per kind; the least recently seen are forgotten first


class RateLimited(BridgeError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


class IngestLimits:
    def __init__(self, connection_rate: Rate | None, address_rate: Rate | None) -> None:
        self.connection_rate, self.address_rate = connection_rate, address_rate
        self.connections, self.addresses = Buckets(), Buckets()

    def check(self, connection_id: str, address: str | None, connection_setting: str | None = None) -> None:
        rate = Rate.parse(connection_setting) if connection_setting else self.connection_rate
        if rate and (wait := self.connections.take(connection_id, rate)):
            raise RateLimited(f"this connection takes {rate.per_second:g} requests a second after a burst "
                              f"of {rate.burst:g}; retry after the Retry-After seconds", math.ceil(wait))
        if self.address_rate and address and (wait := self.addresses.take(address, self.address_rate)):
            raise RateLimited("too many requests from this address; retry after the Retry-After seconds",
                              math.ceil(wait))
