"""Scenario 3: PostgreSQL restarted mid-stream. The web answers 503 (the vendor
retries) rather than 2xx without storing; workers and beat reconnect."""

from __future__ import annotations

import os
import time

import pytest

from tests.faults.stack import N, account, make_sales

pytestmark = [pytest.mark.faults, pytest.mark.services]
DOWN_SECONDS = float(os.environ.get("FAULTS_PG_DOWN", "6"))


def test_postgres_restart_mid_stream_loses_nothing(stacks, own_postgres, fresh_redis_url, sender):
    stack = stacks(own_postgres.url, fresh_redis_url)
    # Deliveries take a moment, so some are in flight (awarded, unrecorded) when the database goes.
    stack.fault(api="*", after_process_delay=0.3, count=100)
    sales = make_sales(stack, N, "pg")
    # Spread the stream over ~15 s so the restart lands in the middle of it.
    posting = sender.send_in_background(sales, pace=15.0 / N)
    time.sleep(4)
    before = dict(sender.answers)
    own_postgres.halt("fast")  # every open connection is cut
    down_at = time.monotonic()
    time.sleep(DOWN_SECONDS)
    own_postgres.resume()
    down_for = time.monotonic() - down_at
    posting.result()

    waited = stack.settle(expected_events=N, timeout=180)
    report = account(stack, "postgres", sales)
    retried = stack.core_requests()["total"] - len(report.ledger)
    print(f"postgres: stopped {down_for:.0f}s after {sum(before.values())} answers; the sender retried "
          f"{sender.answers.get(503, 0)} × 503; {retried} core requests beyond one per award (answers lost with the database, asked again under the same key); settled {waited:.0f}s after the stream; {sender.summary()}")
    assert all(s.accepted for s in sales), sender.summary()
    assert sender.answers.get(503, 0) > 0, "the outage never showed: no 503 while the database was down"
    assert set(sender.answers) <= {200, 202, 503}, f"answers other than 2xx and 503: {sender.summary()}"
    report.check(failed_visible=0)
