"""Scenario 6: 50 concurrent deliveries of the same vendor event, and several
events for one sale arriving out of order."""

from __future__ import annotations

import concurrent.futures
import json
import random
import threading
from collections import Counter

import pytest
from celery import Celery

from tests.e2e.processes import wait_until
from tests.faults.stack import (CUSTOMERS, N, Sale, account, generic_sale, scale, sign_square,
                                square_event)

pytestmark = [pytest.mark.faults, pytest.mark.services]
COPIES = 50


def _square(connection, payment_id, event) -> Sale:
    body, headers = sign_square(connection, event)
    return Sale(connection, "square", payment_id, event["event_id"], body, headers)


def _sale_events(stack, i: int) -> list[Sale]:
    """The events one sale produces, in the (shuffled) order they arrive."""
    rng = random.Random(i)
    if i % 4 == 3:  # generic: the same sale under two different Idempotency-Keys
        first = generic_sale(stack.connections["generic-xtarly"], "ooo", i)
        second = Sale(first.connection, "generic", first.source_id, f"again-{first.event_id}", first.body,
                      {**first.headers, "Idempotency-Key": f"again-{first.event_id}"})
        return [first, second]
    connection = stack.connections["square-cockato" if i % 4 == 1 else "square-xtarly"]
    payment_id = f"FLTooo{i:06d}{random.Random(-i).getrandbits(40):010x}"
    email = CUSTOMERS[i % 2]
    if i % 3 == 0:
        # Square attaches the customer later: v1 has nobody, v3 has the email.
        events = [square_event(payment_id, None, fixture="payment.created.completed-no-customer", version=1),
                  square_event(payment_id, email, version=3)]
    else:
        events = [square_event(payment_id, email, fixture="payment.created.completed", version=1),
                  square_event(payment_id, email, version=2),
                  square_event(payment_id, email, version=3)]
    rng.shuffle(events)
    return [_square(connection, payment_id, event) for event in events]


def test_fifty_copies_at_once_and_events_out_of_order(stacks, fresh_postgres_db, fresh_redis_url, sender):
    stack = stacks(fresh_postgres_db, fresh_redis_url)
    celery = Celery(broker=fresh_redis_url)

    # Part 1: HOT events, each posted 50 times at once, while its first delivery sits at a
    # slow core; 50 extra `bridge.deliver` tasks per transaction race it.
    hot_count = min(5, scale(0.1, 2))
    stack.fault(api="*", after_process_delay=1.5, count=hot_count)
    connection = stack.connections["square-xtarly"]
    hot = []
    for i in range(hot_count):
        payment_id = f"FLThot{i:04d}{random.getrandbits(40):010x}"
        hot.append(_square(connection, payment_id, square_event(payment_id, CUSTOMERS[i % 2])))
    statuses = {}
    with concurrent.futures.ThreadPoolExecutor(COPIES) as pool:
        for sale in hot:
            gate = threading.Barrier(COPIES)

            def post(_, sale=sale, gate=gate):
                gate.wait()
                return sender.client.post(sale.url, content=sale.body, headers=sale.headers).status_code

            statuses[sale.source_id] = Counter(pool.map(post, range(COPIES)))
    for sale in hot:
        assert statuses[sale.source_id] == Counter({202: 1, 200: COPIES - 1}), statuses
        sale.accepted = True
    hot_keys = [s.key for s in hot]
    ids = wait_until(lambda: (rows := stack.sql(
        "select id from transactions where idempotency_key = any(:keys)", keys=hot_keys)) and
        len(rows) == hot_count and [r[0] for r in rows], timeout=30, message="the hot transactions")
    for transaction_id in ids:
        for _ in range(COPIES):
            celery.send_task("bridge.deliver", args=[transaction_id])

    # Part 2: N sales, 2-3 events each, each sale's events in a shuffled order, sales in parallel.
    per_sale = [_sale_events(stack, i) for i in range(N)]

    def post_in_order(events):
        for event in events:
            sender.post(event)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(post_in_order, per_sale))
    posted = [event for events in per_sale for event in events]
    assert all(e.accepted for e in posted), sender.summary()
    sales = []
    for events in per_sale:
        first = events[0]
        sales.append(Sale(first.connection, first.vendor, first.source_id, first.event_id, first.body,
                          first.headers, accepted=True))

    total_events = hot_count + len(posted)
    waited = stack.settle(expected_events=total_events, timeout=120)
    report = account(stack, "concurrency", hot + sales)
    skipped = [e for e in report.events if e["status"] == "skipped"]
    attempts = dict(stack.sql("select t.idempotency_key, count(a.id) from transactions t "
                              "left join attempts a on a.transaction_id = t.id group by t.idempotency_key"))
    print(f"concurrency: {hot_count} events × {COPIES} concurrent copies -> one 202 and {COPIES - 1} × 200 each, "
          f"plus {COPIES} extra deliver tasks each (attempts per hot sale: "
          f"{sorted(attempts[k] for k in hot_keys)}); {len(posted)} events for {N} sales in shuffled order: "
          f"{len(report.events)} events stored, {len(skipped)} skipped as stale; settled in {waited:.0f}s; "
          f"{sender.summary()}")
    report.check(failed_visible=0)
    assert len(report.events) == total_events
    assert all(attempts[k] == 1 for k in hot_keys), "a hot sale was posted to the core more than once"
    bad = [e for e in report.events if e["status"] not in ("delivered", "skipped")
           or (e["status"] == "skipped" and "stale" not in (e["reason"] or ""))]
    assert not bad, json.dumps(bad[:5], indent=1)
