"""Scenario 2: Redis FLUSHALL mid-stream, then Redis down for a while: the
webhooks are still stored and answered, and the sweeper re-enqueues every due
row from the database once Redis is back."""

from __future__ import annotations

import os
import time

import pytest
import redis

from tests.faults.stack import N, account, make_sales

pytestmark = [pytest.mark.faults, pytest.mark.services]
DOWN_SECONDS = float(os.environ.get("FAULTS_REDIS_DOWN", "15"))


def test_redis_flushed_then_down_loses_nothing(stacks, fresh_postgres_db, own_redis, sender):
    stack = stacks(fresh_postgres_db, own_redis.url)
    # Slow deliveries a little so work is queued in Redis when it is flushed.
    stack.fault(api="*", delay=0.2, count=min(N, 100))
    sales = make_sales(stack, N, "redis")
    first, second, third = sales[: N // 3], sales[N // 3: 2 * N // 3], sales[2 * N // 3:]

    posting = sender.send_in_background(first, pace=0.02)
    time.sleep(0.5)
    flushed = redis.Redis.from_url(own_redis.url).flushall()  # mid-stream: queued wake-ups vanish
    posting.result()
    assert flushed
    # Nothing restarted, nobody reconnected: the sweeper alone re-finds what the flush dropped.
    flush_settled = stack.settle(expected_events=len(first), timeout=60)

    own_redis.halt()
    down_at = time.monotonic()
    sender.send(second)  # while Redis is down
    stored_while_down = sum(s.accepted for s in second)
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - down_at)))
    down_for = time.monotonic() - down_at
    own_redis.resume()  # same port, empty

    sender.send(third)
    waited = stack.settle(expected_events=N, timeout=150)
    report = account(stack, "redis", sales)
    print(f"redis: FLUSHALL 0.5s into {len(first)} posts, all settled {flush_settled:.0f}s later with no restart; down {down_for:.0f}s while {len(second)} were posted "
          f"({stored_while_down} answered 2xx while it was down); settled {waited:.0f}s after; {sender.summary()}")
    assert all(s.accepted for s in sales), sender.summary()
    report.check(failed_visible=0)
