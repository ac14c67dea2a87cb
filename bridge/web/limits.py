"""Ingest rate limits: token buckets per connection and per client address.

Generous by default: a POS catching up after an outage sends hundreds of
requests at once, so a connection takes a burst of 2,000 before any 429 (the
interface promises at least 1,000), refilled at 50 a second. With Redis
(production) the buckets live there, so every web process draws from the same
ones; embedded mode keeps them in the process. If Redis stops answering, each process falls back to its own buckets
for a few seconds rather than refuse or stall a POS: the limit then errs on
the generous side, never on the side of losing a sale.
"""

from __future__ import annotations

import math

from bridge.buckets import Buckets, Rate, SharedBuckets
from bridge.errors import RateLimited


class IngestLimits:
    def __init__(self, connection_rate: Rate | None, address_rate: Rate | None,
                 redis_url: str | None = None, name: str = "ingest") -> None:
        self.connection_rate, self.address_rate = connection_rate, address_rate
        # `name` keeps each kind of limit in buckets of its own.
        self.buckets = SharedBuckets(redis_url, f"bridge:{name}-limit:") if redis_url else Buckets()

    def check(self, connection_id: str, address: str | None, connection_setting: str | None = None) -> None:
        """Both buckets in one round trip: the connection's first, then the
        address's (not drawn when the connection's refused)."""
        rate = Rate.parse(connection_setting) if connection_setting else self.connection_rate
        wanted = []
        if rate:
            wanted.append((f"connection:{connection_id}", rate))
        if self.address_rate and address:
            wanted.append((f"address:{address}", self.address_rate))
        if not wanted or (refused := self.buckets.take_each(wanted)) is None:
            return
        which, wait = refused
        if wanted[which][0].startswith("connection:"):
            raise RateLimited(f"this connection takes {rate.per_second:g} requests a second after a burst "
                              f"of {rate.burst:g}; retry after the Retry-After seconds", math.ceil(wait))
        raise RateLimited("too many requests from this address; retry after the Retry-After seconds",
                          math.ceil(wait))
