"""Scenario 5: the loyalty core answering 500 for a while, 429 with Retry-After,
hanging past the delivery timeout, and 401 after a key rotation. Retries back
off, the 401 pauses the connection and holds its deliveries, `rotate-key`
resumes them, and the bridge's attempt records match what the core counted."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from tests.e2e.processes import wait_until
from tests.faults.stack import N, account, make_sales, scale, square_sale

pytestmark = [pytest.mark.faults, pytest.mark.services]
NEW_KEY = "xtarly_pos_demo_rotated"
HANG = 3.0  # seconds the core sits on a request: past BRIDGE_DELIVERY_TIMEOUT (2 s)


def _connection(stack, connection_id):
    return next(c for c in stack.procs.cli_json("connections", "list") if c["id"] == connection_id)


def test_core_500_429_hang_and_401_rotation(stacks, fresh_postgres_db, fresh_redis_url, sender):
    stack = stacks(fresh_postgres_db, fresh_redis_url)
    errors, limited, hangs = scale(0.15, 3), scale(0.15, 3), min(6, scale(0.05, 2))
    # Taken in this order by the core's next requests (BRIDGE_DELIVERY_TIMEOUT is 2 s).
    stack.fault(api="*", status=500, count=errors)
    stack.fault(api="*", status=429, retry_after=2, count=limited)
    stack.fault(api="*", delay=HANG, count=hangs)
    sales = make_sales(stack, N, "core")
    early, late = sales[: 2 * N // 3], sales[2 * N // 3:]
    sender.send(early)
    wait_until(lambda: stack.pending_faults() == [], timeout=60, message="the injected faults to be used up")
    time.sleep(HANG + 0.5)  # the last hung request finishes (and awards) at the core with the old key

    # The merchant's Xtarly admin regenerates the key; the bridge still has the old one.
    square_x = stack.connections["square-xtarly"]
    httpx.post(f"{stack.core}/_sandbox/orgs/demo-cafe/rotate-key", json={"key": NEW_KEY}, timeout=10).raise_for_status()
    sender.send(late)
    assert all(s.accepted for s in sales), sender.summary()

    held = [s for s in late if s.connection is square_x]
    stack.settle(expected_events=N, timeout=120)  # paused counts as settled here
    assert _connection(stack, square_x["id"])["status"] == "paused"
    # A hung request the core awarded, whose retry found the connection paused, is
    # awarded yet shown paused until the resume asks again: allowed here.
    paused = account(stack, "core-faults (paused by the 401)", sales, extra_ok_statuses=("paused",))
    assert paused.duplicates == 0 and paused.lost == 0 and not paused.stuck
    assert paused.failed_visible >= len(held) > 0
    paused_events = [e for e in paused.events if e["status"] == "paused"]
    assert all("rotate" in e["reason"] for e in paused_events), paused_events[:3]

    stack.procs.cli("connections", "rotate-key", square_x["id"], "--target-key", NEW_KEY)
    waited = stack.settle(expected_events=N, timeout=120, allow_paused=False)
    report = account(stack, "core-faults", sales)
    report.check(failed_visible=0)

    # Counts match: every attempt the bridge recorded is a request the core counted, status for status.
    core = Counter()
    for api in stack.core_requests()["by_api"].values():
        core.update({int(status): count for status, count in api["by_status"].items()})
    bridge = Counter()
    timeouts = 0
    for status, error_class, count in stack.sql(
            "select status_code, error_class, count(*) from attempts group by status_code, error_class"):
        if status is None:
            assert error_class == "ReadTimeout", error_class
            timeouts += count
        else:
            bridge[status] += count
    print(f"core-faults: injected 500×{errors}, 429×{limited}, hang×{hangs}; core counted {dict(core)}; bridge "
          f"recorded {dict(bridge)} + {timeouts} timeouts; {len(paused_events)} events paused, resumed and "
          f"settled {waited:.0f}s after rotate-key; {sender.summary()}")
    assert core[500] == bridge[500] == errors
    assert core[429] == bridge[429] == limited
    assert timeouts == hangs
    assert core[401] == bridge[401] >= 1
    assert core[200] == bridge[200] + hangs  # a hung request was still processed by the core
    assert sum(core.values()) == sum(bridge.values()) + timeouts

    # Backoff: nothing was retried sooner than the first step of the schedule (5 s, -10% jitter)
    # nor sooner than a Retry-After.
    gaps = stack.sql("""
        select a.status_code, a.error_class, extract(epoch from b.started_at - a.started_at)
        from attempts a join attempts b on b.transaction_id = a.transaction_id and b.number = a.number + 1
        where a.outcome = 'retry'""")
    assert len(gaps) == errors + limited + hangs
    assert min(gap for _, _, gap in gaps) >= 4.5, sorted(gaps, key=lambda g: g[2])[:3]


RACE_HANG = 6.0  # the core sits on the old-key requests this long, then answers 401


def test_key_rotated_while_old_key_requests_are_in_flight(stacks, fresh_postgres_db, fresh_redis_url, sender):
    """The operator rotates the key in the core and then in the bridge while deliveries
    sent with the old key are still waiting for their answer. Their 401s arrive after
    `rotate-key`: the connection, which now holds the right key, must not end up paused."""
    stack = stacks(fresh_postgres_db, fresh_redis_url, BRIDGE_DELIVERY_TIMEOUT="9s")
    square_x = stack.connections["square-xtarly"]
    httpx.post(f"{stack.core}/_sandbox/orgs/demo-cafe/rotate-key", json={"key": NEW_KEY}, timeout=10).raise_for_status()
    stack.fault(api="xtarly", delay=RACE_HANG, count=2)
    in_flight = [square_sale(square_x, "race", i) for i in range(2)]
    sender.send(in_flight)
    wait_until(lambda: stack.pending_faults() == [], timeout=30, message="two old-key requests at the core")
    stack.procs.cli("connections", "rotate-key", square_x["id"], "--target-key", NEW_KEY)
    [(rotated_at, status_then)] = stack.sql("select now(), status from connections where id = :id", id=square_x["id"])
    answered = stack.sql("select count(*) from attempts")[0][0]
    assert status_then == "active" and answered == 0, "too slow: the 401s came back before rotate-key finished"

    wait_until(lambda: stack.sql("select count(*) from attempts")[0][0] == 2, timeout=30,
               message="the two old-key answers")
    after = [square_sale(square_x, "race-after", i) for i in range(scale(0.1, 4))]
    sender.send(after)
    sales = in_flight + after
    stack.settle(expected_events=len(sales), timeout=90)
    connection = _connection(stack, square_x["id"])
    attempts = stack.sql("select status_code, started_at, duration_ms from attempts order by id")
    report = account(stack, "core-faults (rotation race)", sales)
    print(f"core-faults (rotation race): rotate-key at {rotated_at:%H:%M:%S.%f}; attempts "
          f"{[(s, f'{t:%H:%M:%S.%f}', d) for s, t, d in attempts]}; connection now {connection['status']}: "
          f"{connection.get('status_reason')}")
    assert connection["status"] == "active", (
        f"the connection holds the new key yet is {connection['status']}: {connection.get('status_reason')}")
    report.check(failed_visible=0)
