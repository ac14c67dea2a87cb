"""`?wait=N`: the answer carries the loyalty core's verdict (points, balance),
so a till can print the balance; the worker runs meanwhile, as in production."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from connectors.generic.tests.posting import SALE, connect, post


@contextmanager
def worker(harness):
    stopping = threading.Event()

    def run():
        while not stopping.is_set():
            if not harness.drain():
                time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(10)


def test_wait_returns_points_and_balance_from_the_core(harness):
    connection = connect(harness)
    with worker(harness):
        first = post(harness, connection, query="?wait=10")
        second = post(harness, connection, {**SALE, "reference": "R-2"}, query="?wait=10")
    assert first.status_code == 202
    delivery = first.get_json()["delivery"]
    assert (delivery["status"], delivery["settled"], delivery["earned_points"], delivery["balance"]) == (
        "delivered", True, 19, 19)
    assert second.get_json()["delivery"]["balance"] == 38


def test_without_wait_the_answer_is_immediate_and_has_no_delivery(harness):
    connection = connect(harness)
    response = post(harness, connection)
    assert response.status_code == 202 and "delivery" not in response.get_json()


def test_a_replay_after_a_timeout_gets_the_first_outcome(harness):
    """Zapier: "may or may not have completed"; the replay shows what happened."""
    connection = connect(harness)
    with worker(harness):
        post(harness, connection, query="?wait=10")
        again = post(harness, connection, query="?wait=10")
    assert again.status_code == 200
    body = again.get_json()
    assert body["duplicate"] is True and body["delivery"]["earned_points"] == 19
    assert len(harness.ledger()) == 1


def test_a_slow_core_answers_unsettled_at_the_deadline_then_delivers(harness):
    connection = connect(harness)
    harness.sandbox("post", "faults", json={"api": "*", "delay": 3, "count": 1})
    with worker(harness):
        started = time.monotonic()
        response = post(harness, connection, query="?wait=1")
        waited = time.monotonic() - started
        assert 1 <= waited < 2.5
        delivery = response.get_json()["delivery"]
        assert response.status_code == 202 and delivery["settled"] is False
        assert delivery["status"] in ("received", "pending")
        deadline = time.monotonic() + 10
        while harness.events()[0].status != "delivered" and time.monotonic() < deadline:
            time.sleep(0.1)
    assert harness.events()[0].status == "delivered" and len(harness.ledger()) == 1


def test_a_slow_core_within_the_wait_still_answers_with_points(harness):
    connection = connect(harness)
    harness.sandbox("post", "faults", json={"api": "*", "delay": 2, "count": 1})
    with worker(harness):
        response = post(harness, connection, query="?wait=10")
    delivery = response.get_json()["delivery"]
    assert (delivery["status"], delivery["earned_points"]) == ("delivered", 19)


def test_a_failing_core_answers_pending_with_the_reason_and_retries_later(harness):
    connection = connect(harness)
    harness.sandbox("post", "faults", json={"api": "xtarly", "status": 500, "count": 1})
    with worker(harness):
        response = post(harness, connection, query="?wait=1.5")
    delivery = response.get_json()["delivery"]
    assert response.status_code == 202
    assert (delivery["status"], delivery["settled"]) == ("pending", False)
    assert "500" in delivery["reason"] and "retrying" in delivery["reason"]
    harness.make_due()
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1


@pytest.mark.parametrize("target_key, body, status, reason", [
    ("xtarly_pos_noprogram", SALE, "failed", "BAD_REQUEST"),
    ("xtarly_pos_demo", {**SALE, "email": "nobody@example.com"}, "unmatched", "404"),
    ("xtarly_pos_demo", {**SALE, "test": "true"}, "skipped", "test request"),
])
def test_a_refusing_core_or_a_test_settles_with_the_reason(harness, target_key, body, status, reason):
    connection = connect(harness, target_key=target_key)
    with worker(harness):
        response = post(harness, connection, body, query="?wait=10")
    delivery = response.get_json()["delivery"]
    assert (delivery["status"], delivery["settled"]) == (status, True)
    assert reason in delivery["reason"]


@pytest.mark.parametrize("wait", ["26", "-1", "soon", "nan"])
def test_wait_outside_0_to_25_seconds_is_400_and_nothing_is_stored(harness, wait):
    connection = connect(harness)
    response = post(harness, connection, query=f"?wait={wait}")
    assert response.status_code == 400 and "wait must be between 0 and 25" in response.get_json()["detail"]
    assert harness.events() == []
    assert post(harness, connection, query="?wait=0").status_code == 202
