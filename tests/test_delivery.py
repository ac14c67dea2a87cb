"""Delivery to the sandbox core: faults, pause and resume, unmatched, both targets."""

from __future__ import annotations


import httpx
import pytest
from sqlalchemy import select

from bridge import pipeline
from bridge.store.tables import AttemptRow, ConnectionRow, utcnow
from tests.support import Harness


def _attempts(harness: Harness) -> list[AttemptRow]:
    with harness.db.session() as session:
        return list(session.scalars(select(AttemptRow).order_by(AttemptRow.id)))


@pytest.mark.parametrize("target", ["xtarly", "cockato"])
def test_completed_payment_awards_once_on_each_target(harness, target):
    connection = harness.add_connection(target=target)
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [award] = harness.ledger()
    assert (award["api"], award["customer_id"], award["amount"], award["points"]) == (target, "cus_alice", 1999, 19)
    [tx] = harness.transactions()
    assert tx.status == "delivered" and tx.result["earned_points"] == 19 and tx.result["balance"] == 19
    assert award["idempotency_key"] == tx.idempotency_key


def test_cockato_body_carries_every_identity_and_the_trace(harness):
    connection = harness.add_connection(target="cockato")
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [attempt] = _attempts(harness)
    body = attempt.request["json"]
    assert body["email"] == "alice@example.com" and body["amount"] == 1999 and body["currency"] == "USD"
    assert body["outlet_id"] == "L8TZ7YF1X5MPQ" and body["reference"] == "Hx7k"
    assert body["metadata"]["vendor"] == "square" and body["metadata"]["source_id"]
    assert attempt.request["headers"]["x-api-key"] == "…demo"  # masked in the record
    assert attempt.request["headers"]["Idempotency-Key"].startswith("lb_")


def test_500_then_200_retries_and_awards_once(harness):
    connection = harness.add_connection()
    harness.sandbox("post", "faults", json={"api": "xtarly", "status": 500, "count": 2})
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "pending" and "500" in tx.reason
    first_gap = (tx.next_attempt_at - utcnow()).total_seconds()
    assert 3 < first_gap <= 6  # the first retry comes within seconds
    for _ in range(2):
        harness.make_due()
        harness.sweep_and_drain()
    assert len(harness.ledger()) == 1
    assert [a.outcome for a in _attempts(harness)] == ["retry", "retry", "delivered"]
    keys = {a.request["headers"]["Idempotency-Key"] for a in _attempts(harness)}
    assert keys == {tx.idempotency_key}


def test_429_retry_after_is_honoured(harness):
    connection = harness.add_connection()
    harness.sandbox("post", "faults", json={"api": "xtarly", "status": 429, "retry_after": 120, "count": 1})
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [tx] = harness.transactions()
    wait = (tx.next_attempt_at - utcnow()).total_seconds()
    assert 115 < wait <= 120
    harness.work.sweep()  # not due yet: nothing happens
    harness.drain()
    assert harness.ledger() == []
    harness.make_due()
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1


def test_timeout_after_the_core_awarded_does_not_award_twice(tmp_path, live_sandbox):
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", real_http=True, delivery_timeout_seconds=0.5)
    connection = harness.add_connection(target_url=f"{live_sandbox.url}/xtarly")
    httpx.post(f"{live_sandbox.url}/_sandbox/faults", json={"api": "xtarly", "after_process_delay": 2.0, "count": 1})
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [first] = _attempts(harness)
    assert first.outcome == "retry" and "Timeout" in first.error_class
    harness.make_due()
    harness.sweep_and_drain()
    ledger = httpx.get(f"{live_sandbox.url}/_sandbox/ledger").json()
    assert len(ledger) == 1
    assert harness.transactions()[0].status == "delivered"
    assert [a.outcome for a in _attempts(harness)] == ["retry", "delivered"]
    harness.close()


def test_connection_refused_is_retried(tmp_path):
    from tests.services import free_port
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", real_http=True)
    connection = harness.add_connection(target_url=f"http://127.0.0.1:{free_port()}/xtarly")
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "pending" and "could not reach Xtarly" in tx.reason
    harness.close()


def test_401_pauses_the_connection_and_rotation_resumes_it(harness):
    connection = harness.add_connection(target_key="xtarly_pos_wrong")
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.post_fixture(connection.id, "payment.updated.completed-jpy")
    harness.drain()
    assert {tx.status for tx in harness.transactions()} == {"paused"}
    assert {e.status for e in harness.events()} == {"paused"}
    with harness.db.session() as session:
        row = session.get(ConnectionRow, connection.id)
        assert row.status == "paused" and "rejected the API key (401)" in row.status_reason
    assert len(_attempts(harness)) == 1  # no retry storm against a wrong key
    from bridge import connections
    connections.rotate(harness.db, connection.id, target_key="xtarly_pos_demo")
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 2
    assert {tx.status for tx in harness.transactions()} == {"delivered"}


def test_404_unknown_customer_is_unmatched_with_the_cores_message(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed",
                         mutate=lambda d: d["data"]["object"]["payment"].update(buyer_email_address="zoe@example.com"))
    harness.drain()
    [event] = harness.events()
    assert event.status == "unmatched"
    assert "Xtarly answered 404 NOT_FOUND" in event.reason


def test_400_is_failed_not_retried(harness):
    connection = harness.add_connection(target_key="xtarly_pos_noprogram")
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "failed" and "BAD_REQUEST" in tx.reason and tx.next_attempt_at is None
    assert len(_attempts(harness)) == 1


def test_retry_budget_spent_ends_failed_and_kept(tmp_path):
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", retry_budget_seconds=1)
    connection = harness.add_connection()
    harness.sandbox("post", "faults", json={"api": "xtarly", "status": 503, "count": 5})
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "failed" and "retry budget spent" in tx.reason
    assert harness.events()[0].status == "failed"
    harness.close()


def test_phone_only_sale_is_unmatched_on_xtarly_but_delivered_on_cockato(harness):
    def phone_only(doc):
        doc["data"]["object"]["payment"].pop("buyer_email_address")
    for target in ("xtarly", "cockato"):
        connection = harness.add_connection(target=target, name=target)
        harness.post_fixture(connection.id, "payment.updated.completed", mutate=phone_only)
    harness.drain()
    statuses = [e.status for e in harness.events()]
    assert statuses == ["unmatched", "unmatched"]  # no identity at all without a Square token
    assert "no customer details" in harness.events()[0].reason


def test_lease_stops_a_second_worker_posting_the_same_delivery(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed")
    job, event_id = harness.dispatcher.jobs.popleft()
    # Parse only (Work.process_event would deliver at once), then claim as another worker would.
    [tx_id] = pipeline.process_event(harness.db, harness.config.public_url, event_id).transaction_ids
    assert harness.work.deliverer.claim(tx_id) is True
    assert harness.work.deliverer.deliver(tx_id) is None  # claimed elsewhere: nothing sent
    assert harness.ledger() == []


def test_private_target_refused_when_not_allowed(tmp_path):
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", allow_private_targets=False)
    from bridge import connections
    from bridge.errors import ConfigError
    with pytest.raises(ConfigError, match="private network"):
        connections.create(harness.db, vendor="square", name="x", target="xtarly",
                           target_url="http://127.0.0.1:9/x", target_key="k", signing_keys=["s"])
    harness.close()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/x", "http://10.0.0.5/x", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/x", "http://192.168.1.10/x", "http://localhost/x",
])
def test_private_loopback_link_local_and_metadata_targets_are_refused(tmp_path, url):
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", allow_private_targets=False)
    from bridge import connections
    from bridge.errors import ConfigError
    with pytest.raises(ConfigError, match="private network"):
        connections.create(harness.db, vendor="square", name="x", target="xtarly",
                           target_url=url, target_key="k", signing_keys=["s"])
    harness.close()


def test_target_checked_again_at_delivery_time(tmp_path):
    """A connection made while private targets were allowed (or a DNS name that
    later points inside) is refused when the delivery connects."""
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", allow_private_targets=False)
    from bridge import connections
    row = connections.create(harness.db, vendor="square", name="x", target="xtarly",
                             target_url="http://127.0.0.1:9/xtarly", target_key="xtarly_pos_demo",
                             signing_keys=["test-signature-key"], allow_private_targets=True).row
    harness.post_fixture(row.id, "payment.updated.completed")
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "failed" and "private network" in tx.reason
    assert harness.ledger() == []
    harness.close()


def test_a_401_for_a_key_rotated_meanwhile_retries_instead_of_pausing(harness, monkeypatch):
    """Found by the fault suite: the operator rotated the key while a request
    with the old one was at the core; its 401 must not pause a connection that
    already holds the right key."""
    from bridge import connections
    connection = harness.add_connection(target_key="xtarly_pos_wrong")
    real_request = harness.work.deliverer.http.request

    def rotate_while_in_flight(*args, **kwargs):
        response = real_request(*args, **kwargs)  # the core answers 401 to the old key...
        connections.rotate(harness.db, connection.id, target_key="xtarly_pos_demo")  # ...as support rotates
        return response

    monkeypatch.setattr(harness.work.deliverer.http, "request", rotate_while_in_flight)
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "pending" and "rotated since" in tx.reason
    with harness.db.session() as session:
        assert connections.get(session, connection.id).status == "active"
    monkeypatch.setattr(harness.work.deliverer.http, "request", real_request)
    harness.make_due()
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1
