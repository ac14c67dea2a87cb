"""Scenario 4: the web process killed between commit and enqueue.

Approximated from outside: with the worker and beat stopped, every sale is
committed and its wake-up queued in Redis; the gunicorn workers are SIGKILLed
mid-stream (in-flight requests die, the vendor retries), then Redis is flushed
(every wake-up lost) and the whole web is SIGKILLed. After a restart of
everything, only the sweeper can find the rows.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from tests.faults.stack import N, account, make_sales

pytestmark = [pytest.mark.faults, pytest.mark.services]


def test_web_killed_between_commit_and_enqueue(stacks, fresh_postgres_db, fresh_redis_url, sender):
    stack = stacks(fresh_postgres_db, fresh_redis_url)
    stack.procs.stop("worker")
    stack.procs.stop("beat")
    sales = make_sales(stack, N, "web")
    half = N // 2
    sender.send(sales[:half])

    posting = sender.send_in_background(sales[half:], pace=8.0 / N)
    killed = []
    for _ in range(3):
        if posting.done():
            break
        stack.wait_web()  # the respawned workers answer again
        time.sleep(0.7)
        workers = stack.procs.children("web")
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)  # gunicorn's master respawns them
            except ProcessLookupError:
                continue
            killed.append(pid)
    posting.result()
    assert all(s.accepted for s in sales), sender.summary()

    events, _ = stack.statuses()
    assert events == {"received": N}, f"expected {N} committed, unprocessed events; found {events}"
    assert redis.Redis.from_url(fresh_redis_url).flushall()
    stack.procs.kill("web")

    stack.restart_web()
    stack.start_worker()
    stack.start_beat()
    waited = stack.settle(expected_events=N, timeout=120)
    report = account(stack, "web-kill", sales)
    print(f"web-kill: {len(killed)} gunicorn workers SIGKILLed mid-stream, then FLUSHALL and the whole web; "
          f"the sweeper found all {N} rows, settled {waited:.0f}s after the restart; {sender.summary()}")
    report.check(failed_visible=0)
