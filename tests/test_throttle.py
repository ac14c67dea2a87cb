"""Per-target throttling: a backlog is held back under the core's rate instead
of spending attempts on 429s, with one budget shared by every worker."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select

from bridge import connections
from bridge.buckets import Buckets
from bridge.errors import ConfigError
from bridge.sandbox.seed import cockato_demo_customers
from bridge.store.tables import AttemptRow
from bridge.throttle import bucket_key, buckets_for, parse_target_rate, rate_for

THROTTLED_KEY = "cockato_throttled"
CORE_LIMIT, CORE_WINDOW = 10, 4  # the sandbox org answers 429 past 10 transactions in 4 s
BACKLOG = 25


def _attempts(harness) -> list[AttemptRow]:
    with harness.db.session() as session:
        return list(session.scalars(select(AttemptRow).order_by(AttemptRow.id)))


def _distinct_sale(document: dict) -> None:
    payment_id = f"THR{uuid.uuid4().hex[:20]}"
    document["event_id"] = str(uuid.uuid4())
    document["data"]["id"] = document["data"]["object"]["payment"]["id"] = payment_id


def _throttled_backlog(harness, target_rate: str):
    created = harness.sandbox("post", "orgs", json={
        "api": "cockato", "org": f"busy-{uuid.uuid4().hex[:6]}", "key": THROTTLED_KEY, "country": "AU",
        "rate_limit_per_minute": CORE_LIMIT, "rate_limit_window_seconds": CORE_WINDOW,
        "customers": cockato_demo_customers()})
    assert created.status_code == 201, created.get_json()
    connection = harness.add_connection(target="cockato", target_key=THROTTLED_KEY,
                                        settings={"target_rate": target_rate})
    for _ in range(BACKLOG):
        assert harness.post_fixture(connection.id, "payment.updated.completed",
                                    mutate=_distinct_sale).status_code == 202
    harness.drain()  # parses every sale and delivers inline what the budget allows
    return connection


def test_backlog_against_a_throttling_core_spends_no_attempt_on_429(harness):
    _throttled_backlog(harness, f"{CORE_LIMIT}/{CORE_WINDOW}s")
    held_back = [tx for tx in harness.transactions() if tx.status == "pending"]
    assert held_back, "the whole backlog went out at once: nothing was throttled"
    assert all(tx.attempts == 0 and tx.reason.startswith("held back") for tx in held_back)
    deadline = time.monotonic() + 120  # a bound on the loop, not a speed check
    while any(tx.status == "pending" for tx in harness.transactions()) and time.monotonic() < deadline:
        time.sleep(0.2)
        harness.sweep_and_drain()
    assert {tx.status for tx in harness.transactions()} == {"delivered"}
    assert len(harness.ledger()) == BACKLOG
    attempts = _attempts(harness)
    assert [a.status_code for a in attempts] == [200] * BACKLOG  # one attempt each, none answered 429
    assert all(tx.attempts == 1 for tx in harness.transactions())


def test_same_backlog_unthrottled_meets_429s(harness):
    """The control: without the bucket, this backlog does hit the core's limit."""
    _throttled_backlog(harness, "off")
    statuses = [a.status_code for a in _attempts(harness)]
    assert 429 in statuses and statuses.count(200) < BACKLOG


def test_buckets_in_redis_are_shared_by_every_worker(redis_url):
    rate = parse_target_rate("40/h")  # slow refill: nothing comes back while the test runs
    key = bucket_key("https://core.example/pos-transaction", f"key-{uuid.uuid4().hex}")
    worker_a, worker_b = buckets_for(redis_url), buckets_for(redis_url)
    assert rate.burst == 2
    # Alternating workers: the two tokens are the pair's, not each one's.
    granted = [worker.take(key, rate) == 0 for worker in (worker_a, worker_b, worker_a, worker_b)]
    assert granted == [True, True, False, False]
    assert worker_a.take(key, rate) > 0 and worker_b.take(key, rate) > 0
    other = bucket_key("https://core.example/pos-transaction", "another account")
    assert worker_b.take(other, rate) == 0  # one bucket per core account


def test_bucket_key_never_carries_the_api_key():
    assert "secret-key" not in bucket_key("https://core.example", "secret-key")


@pytest.mark.parametrize("text, burst, per_minute", [
    ("1000/min", 50, 902.5),  # 5% burst; the rest over the minute, less 5% for jitter
    ("20/s", 1, 1083.0),
    ("50/10s", 2, 273.6),
])
def test_target_rate_stays_under_the_limit_in_any_window(text, burst, per_minute):
    rate = parse_target_rate(text)
    assert rate.burst == burst and rate.per_second * 60 == pytest.approx(per_minute)


@pytest.mark.parametrize("text", ["fast", "0/min", "10/0s", "10/fortnight", "-5/s", "1.5/s"])
def test_bad_target_rate_is_refused_with_its_form(harness, text):
    with pytest.raises(ConfigError, match="target_rate"):
        harness.add_connection(target="cockato", settings={"target_rate": text})


def test_defaults_follow_the_documented_limits():
    assert rate_for("cockato", {}) == parse_target_rate("1000/min")
    assert rate_for("xtarly", {}) is None
    assert rate_for("cockato", {"target_rate": "off"}) is None


def test_in_process_buckets_keep_the_same_contract():
    rate = parse_target_rate("40/h")
    buckets = Buckets()
    assert [buckets.take("k", rate) == 0 for _ in range(3)] == [True, True, False]
    assert connections.CORE_SETTINGS["target_rate"]
