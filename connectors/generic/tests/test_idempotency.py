"""One sale awards once: re-posts answer 200 `duplicate: true`, a changed
amount, identity or kind under the same id answers 422 naming the fields."""

from __future__ import annotations

import concurrent.futures
import json

import httpx
import pytest

from connectors.generic.tests.posting import SALE, SECRET, connect, post
from tests.support import LiveServer


def test_a_repost_answers_200_with_the_first_answer_and_duplicate_true(harness):
    connection = connect(harness)
    first = post(harness, connection, {**SALE, "occurred_at": "2024-05-01T10:00:00Z"})
    again = post(harness, connection, {**SALE, "occurred_at": "2024-05-01T10:00:00Z"})
    assert (first.status_code, again.status_code) == (202, 200)
    a, b = first.get_json(), again.get_json()
    assert (b["status"], b["duplicate"]) == ("duplicate", True)
    assert {k: v for k, v in a.items() if k not in ("status", "duplicate")} == \
        {k: v for k, v in b.items() if k not in ("status", "duplicate")}
    harness.drain()
    assert len(harness.ledger()) == 1 and len(harness.events()) == 1


def test_sequential_reposts_award_once(harness):
    connection = connect(harness)
    statuses = [post(harness, connection).status_code for _ in range(5)]
    assert statuses == [202, 200, 200, 200, 200]
    harness.drain()
    assert len(harness.ledger()) == 1


@pytest.mark.parametrize("change, fields", [
    ({"amount": "29.99"}, ["amount"]),
    ({"amount": None, "amount_minor": "2999"}, ["amount"]),
    ({"currency": "NZD"}, ["currency"]),
    ({"email": "bob@example.com"}, ["email"]),
    ({"phone": "+61412345678"}, ["phone"]),
    ({"kind": "refund"}, ["kind"]),
    ({"amount": "1.00", "email": "bob@example.com"}, ["amount", "email"]),
])
def test_a_repost_with_other_amount_identity_or_kind_is_422_naming_them(harness, change, fields):
    connection = connect(harness)
    post(harness, connection)
    changed = {k: v for k, v in {**SALE, **change}.items() if v is not None}
    response = post(harness, connection, changed)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == "conflicting_repost" and problem["fields"] == fields
    assert f"different {', '.join(fields)}" in problem["detail"]
    harness.drain()
    assert len(harness.ledger()) == 1


def test_a_repost_with_other_details_is_still_a_duplicate(harness):
    connection = connect(harness)
    post(harness, connection)
    response = post(harness, connection, {**SALE, "location": "Other St", "metadata__note": "edited",
                                          "email": "ALICE@example.com", "currency": "aud", "amount": "19.990"})
    assert response.status_code == 200 and response.get_json()["duplicate"] is True


@pytest.mark.parametrize("first_key, second_key", [("order-77", '"order-77"'), ('"order-77"', "order-77")])
def test_idempotency_key_quoted_or_not_is_the_event_id(harness, first_key, second_key):
    connection = connect(harness)
    assert post(harness, connection, headers={"Idempotency-Key": first_key}).status_code == 202
    assert post(harness, connection, headers={"Idempotency-Key": second_key}).status_code == 200
    assert [e.vendor_event_id for e in harness.events()] == ["order-77"]


def test_the_same_idempotency_key_for_another_reference_is_422(harness):
    connection = connect(harness)
    post(harness, connection, headers={"Idempotency-Key": "k-1"})
    response = post(harness, connection, {**SALE, "reference": "R-2"}, headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 422 and response.get_json()["fields"] == ["reference"]


def test_the_same_reference_under_two_keys_still_awards_once(harness):
    """The event id comes from the key; the award is keyed on the reference."""
    connection = connect(harness)
    assert post(harness, connection, headers={"Idempotency-Key": "a"}).status_code == 202
    assert post(harness, connection, headers={"Idempotency-Key": "b"}).status_code == 202
    harness.drain()
    assert len(harness.events()) == 2 and len(harness.transactions()) == 1
    assert len(harness.ledger()) == 1


def test_webhook_id_is_the_event_id(harness):
    connection = connect(harness)
    post(harness, connection, headers={"webhook-id": "msg_42"})
    assert harness.events()[0].vendor_event_id == "msg_42"


def test_a_very_long_key_is_hashed_not_cut(harness):
    connection = connect(harness)
    post(harness, connection, headers={"Idempotency-Key": "k" * 300 + "1"})
    post(harness, connection, {**SALE, "reference": "R-2"}, headers={"Idempotency-Key": "k" * 300 + "2"})
    ids = [e.vendor_event_id for e in harness.events()]
    assert len(set(ids)) == 2 and all(i.startswith("sha256:") for i in ids)


def test_a_test_request_never_shadows_the_real_sale(harness):
    connection = connect(harness)
    assert post(harness, connection, {**SALE, "test": True}).status_code == 202
    assert post(harness, connection, {**SALE, "test": True, "amount": "5.00"}).status_code == 202  # edited re-test
    assert post(harness, connection, {**SALE, "test": True, "amount": "5.00"}).status_code == 200
    real = post(harness, connection)
    assert real.status_code == 202 and real.get_json()["test"] is False
    harness.drain()
    assert [e.status for e in harness.events()] == ["skipped", "skipped", "delivered"]
    assert len(harness.ledger()) == 1


def _concurrently(url: str, bodies: list[dict]) -> list[int]:
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    with httpx.Client(timeout=30) as client, concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: client.post(url, content=json.dumps(body), headers=headers).status_code,
                             bodies))


def test_20_concurrent_reposts_store_once_and_award_once(harness):
    connection = connect(harness)
    server = LiveServer(harness.app)
    try:
        statuses = _concurrently(f"{server.url}/hooks/{connection.id}", [SALE] * 20)
    finally:
        server.close()
    assert sorted(statuses) == [200] * 19 + [202]
    harness.drain()
    assert len(harness.events()) == 1 and len(harness.ledger()) == 1


def test_20_concurrent_posts_with_two_amounts_one_wins_the_other_is_refused(harness):
    connection = connect(harness)
    server = LiveServer(harness.app)
    try:
        statuses = _concurrently(f"{server.url}/hooks/{connection.id}",
                                 [SALE, {**SALE, "amount": "29.99"}] * 10)
    finally:
        server.close()
    assert sorted(statuses) == [200] * 9 + [202] + [422] * 10
    harness.drain()
    assert len(harness.ledger()) == 1
