"""Scenario 7: a delivery whose retry budget runs out ends `failed`, visible with
its reason, and a replay after the fault clears awards it exactly once. Clock
skew cannot be faked across processes; what can be checked is a vendor whose
clock is off: Standard Webhooks timestamps within 5 minutes are accepted,
beyond that refused with a reason."""

from __future__ import annotations

import time

import pytest

from tests.faults.stack import N, account, generic_sale, make_sales, scale

pytestmark = [pytest.mark.faults, pytest.mark.services]
BUDGET = "20s"


def test_retry_budget_spent_fails_visibly_and_replays_once(stacks, fresh_postgres_db, fresh_redis_url, sender):
    stack = stacks(fresh_postgres_db, fresh_redis_url, BRIDGE_RETRY_BUDGET=BUDGET)
    signed = stack.add_connection("generic-signed", "--vendor", "generic", "--target", "xtarly",
                                  "--target-url", f"{stack.core}/xtarly", "--target-key", "xtarly_pos_demo",
                                  "--currency", "AUD", "--set", "auth=signature", "--json")
    # Cockato answers 503 to everything for longer than the budget; Xtarly is fine.
    stack.fault(api="cockato", status=503, count=100 * N)
    sales = make_sales(stack, N, "budget")
    now = int(time.time())
    skew_ok = [generic_sale(signed, "skew", i, signed_at=now + offset)
               for i, offset in enumerate((-240, 240, -60, 60) * max(1, scale(0.02)))]
    skew_refused = [generic_sale(signed, "skewbad", i, signed_at=now + offset)
                    for i, offset in enumerate((-400, 400))]
    sender.send(sales + skew_ok + skew_refused)
    assert all(s.accepted for s in sales + skew_ok), sender.summary()
    assert [s.statuses for s in skew_refused] == [[401], [401]]
    reasons = [r["reason"] for r in stack.procs.cli_json("connections", "rejections", signed["id"])]
    assert any("more than 5 minutes old" in r for r in reasons) and any("in the future" in r for r in reasons), reasons

    doomed = [s for s in sales if s.connection is stack.connections["square-cockato"]]
    all_sales = sales + skew_ok
    started = time.monotonic()
    stack.settle(expected_events=len(all_sales), timeout=120)
    spent_after = time.monotonic() - started
    report = account(stack, "retry-budget", all_sales)
    report.check(failed_visible=len(doomed))
    failed = [e for e in report.events if e["status"] == "failed"]
    assert len(failed) == len(doomed)
    assert all("retry budget spent" in e["reason"] for e in failed), failed[:3]
    shown = stack.procs.cli_json("events", "show", str(failed[0]["id"]))
    [tx] = shown["transactions"]
    assert tx["status"] == "failed" and len(tx["delivery_attempts"]) >= 2
    assert all(a["status_code"] == 503 for a in tx["delivery_attempts"])

    stack.clear_faults()
    ledger_before = len(report.ledger)
    stack.procs.cli("events", "replay", *[str(e["id"]) for e in failed])
    stack.settle(expected_events=len(all_sales), timeout=90)
    # A replay of an already delivered event sends nothing again.
    delivered = next(e for e in report.events if e["status"] == "delivered")
    stack.procs.cli("events", "replay", str(delivered["id"]))
    stack.settle(expected_events=len(all_sales), timeout=60)

    after = account(stack, "retry-budget after replay", all_sales)
    print(f"retry-budget: {len(doomed)} Cockato deliveries failed after a {BUDGET} budget of 503s "
          f"(settled in {spent_after:.0f}s), reason {failed[0]['reason']!r}; replayed -> "
          f"{len(after.ledger) - ledger_before} new awards; vendor clock skew: {len(skew_ok)} sales signed "
          f"±1-4 min off accepted, ±6.7 min refused 401; {sender.summary()}")
    after.check(failed_visible=0)
    assert len(after.ledger) - ledger_before == len(doomed)
