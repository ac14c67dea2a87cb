"""Scenario 1: the Celery worker SIGKILLed while posting, after the core received
(and awarded) the request but before the bridge recorded the answer."""

from __future__ import annotations

import time

import pytest

from tests.e2e.processes import wait_until
from tests.faults.stack import N, account, make_sales

pytestmark = [pytest.mark.faults, pytest.mark.services]


def _in_flight(stack):
    return [key for (key,) in stack.sql(
        "select idempotency_key from transactions where status = 'pending' and lease_until > now()")]


def test_worker_sigkilled_mid_post_awards_once(stacks, fresh_postgres_db, fresh_redis_url, sender):
    stack = stacks(fresh_postgres_db, fresh_redis_url)
    # The core awards, stores its idempotent answer, then sits on the reply for 1.5 s:
    # the window in which the worker is killed.
    stack.fault(api="*", after_process_delay=1.5, count=10 * N)
    sales = make_sales(stack, N, "kill")
    sender.send(sales)
    assert all(s.accepted for s in sales), sender.summary()

    wait_until(lambda: len(stack.ledger()) >= 4 and len(_in_flight(stack)) >= 2, timeout=60,
               interval=0.1, message=f"deliveries in flight\n{stack.procs.logs()}")
    in_flight = set(_in_flight(stack))
    stack.procs.kill("worker")  # the whole process group: the Celery main process and its pool
    awarded_unrecorded = in_flight & {e["idempotency_key"] for e in stack.ledger()}
    recorded = {key for (key,) in stack.sql("select idempotency_key from transactions where status = 'delivered'")}
    assert awarded_unrecorded, "the kill missed the window: no delivery was awarded by the core and unrecorded"
    assert not (awarded_unrecorded & recorded)

    stack.clear_faults()
    time.sleep(1)
    stack.start_worker()
    waited = stack.settle(expected_events=N, timeout=180)

    report = account(stack, "worker-kill", sales)
    print(f"worker-kill: {len(in_flight)} deliveries in flight at the SIGKILL, {len(awarded_unrecorded)} of them "
          f"already awarded by the core but unrecorded; settled {waited:.0f}s after the restart; {sender.summary()}")
    report.check(failed_visible=0)
    replayed = stack.core_requests()["total"] - len(report.ledger)
    assert replayed >= len(awarded_unrecorded), "the lost answers were never asked for again"
    # The retry carried the same Idempotency-Key and got the stored answer: one entry each.
    for key in awarded_unrecorded:
        assert sum(e["idempotency_key"] == key for e in report.ledger) == 1
