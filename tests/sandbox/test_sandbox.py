"""The sandbox core's two APIs: auth, validation, award math, lookups, rate limit, idempotency."""
from __future__ import annotations

import threading
import time

import pytest

from bridge.sandbox import cockato as cockato_module

from .helpers import XTARLY_DEMO, cockato, error_code, xtarly


# --- auth --------------------------------------------------------------------

def test_missing_and_wrong_keys_are_401(client):
    assert client.post("/xtarly/transaction", json={"amount": 1, "customerId": "cus_alice"}).status_code == 401
    assert error_code(xtarly(client, {"amount": 1, "customerId": "cus_alice"}, key="nope")) == "UNAUTHORIZED"
    # An Xtarly key is not a Cockato key.
    assert cockato(client, {"amount": 1, "barcode": "LOYAL-0001"}, key="xtarly_pos_demo").status_code == 401
    assert client.get("/xtarly/customer/cus_alice").status_code == 401
    assert client.get("/_sandbox/ledger").json == []


def test_rotated_key_replaces_the_old_one_at_once(client):
    rotated = client.post("/_sandbox/orgs/demo-cafe/rotate-key", json={"key": "xtarly_pos_new"})
    assert rotated.status_code == 200 and rotated.json["key"] == "xtarly_pos_new"
    assert xtarly(client, {"amount": 100, "customerId": "cus_alice"}).status_code == 401
    assert xtarly(client, {"amount": 100, "customerId": "cus_alice"}, key="xtarly_pos_new").status_code == 200
    assert client.post("/_sandbox/orgs/nope/rotate-key", json={"key": "x"}).status_code == 404


# --- Xtarly validation and lookups --------------------------------------------

@pytest.mark.parametrize("body", [
    {"customerId": "cus_alice"},
    {"amount": "1999", "customerId": "cus_alice"},
    {"amount": True, "customerId": "cus_alice"},
    {"amount": -5, "customerId": "cus_alice"},
    {"amount": 1999},
    {"amount": 1999, "customerId": "  "},
    {"amount": 1999, "customerId": 7},
    {"amount": 1999, "customerId": "cus_alice", "metadata": "T-1"},
])
def test_xtarly_validation_errors(client, body):
    response = xtarly(client, body)
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"


def test_malformed_json_is_a_json_400(client):
    response = client.post("/xtarly/transaction", data="{not json", headers=XTARLY_DEMO,
                           content_type="application/json")
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"


def test_unknown_customer_is_404_and_email_matches_case_insensitively(client):
    response = xtarly(client, {"amount": 100, "customerId": "cus_nobody"})
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
    found = xtarly(client, {"amount": 500, "customerEmail": "ALICE@Example.com"})
    assert found.status_code == 200 and found.json["data"]["earnedPoints"] == 5
    assert client.get("/xtarly/customer/cus_nobody", headers=XTARLY_DEMO).status_code == 404


def test_org_without_program_is_bad_request(client):
    response = xtarly(client, {"amount": 100, "customerId": "cus_alice"}, key="xtarly_pos_noprogram")
    assert response.status_code == 400 and error_code(response) == "BAD_REQUEST"


# --- Xtarly award math ---------------------------------------------------------

def test_points_are_floored_and_accumulate(client):
    first = xtarly(client, {"amount": 1999, "customerId": "cus_alice", "metadata": {"ticket": "T-1"}})
    assert first.status_code == 200
    assert first.json["data"]["earnedPoints"] == 19 and first.json["data"]["customerPoints"] == 19
    second = xtarly(client, {"amount": 101.0, "customerId": "cus_alice"})
    assert second.json["data"]["earnedPoints"] == 1 and second.json["data"]["customerPoints"] == 20
    profile = client.get("/xtarly/customer/cus_alice", headers=XTARLY_DEMO).json["data"]
    assert profile == {"id": "cus_alice", "name": "Alice Martin", "email": "alice@example.com",
                       "points": 20, "stamps": 0, "tier": "gold"}
    assert client.get("/_sandbox/ledger").json[0]["metadata"] == {"ticket": "T-1"}


def test_points_math_is_exact_not_float(client):
    # 57 / 100 * 100 is 56.99999999999999 in floating point.
    client.post("/_sandbox/orgs", json={
        "api": "xtarly", "org": "exact", "key": "xtarly_pos_exact",
        "program": {"type": "points", "currencyUnit": 100, "pointsPerCurrency": 100},
        "customers": [{"id": "c1", "name": "C"}]})
    response = xtarly(client, {"amount": 57, "customerId": "c1"}, key="xtarly_pos_exact")
    assert response.json["data"]["earnedPoints"] == 57


def test_tiers_multiply_before_flooring(client):
    alice = xtarly(client, {"amount": 1999, "customerId": "cus_alice"}, key="xtarly_pos_tiers")
    bob = xtarly(client, {"amount": 1999, "customerId": "cus_bob"}, key="xtarly_pos_tiers")
    assert alice.json["data"]["earnedPoints"] == 39  # 19.99 x 2 = 39.98
    assert bob.json["data"]["earnedPoints"] == 29  # 19.99 x 1.5 = 29.985


def test_stamps_program_gives_one_stamp_per_transaction(client):
    for expected_total, amount in ((1, 50), (2, 999999)):
        data = xtarly(client, {"amount": amount, "customerId": "cus_bob"}, key="xtarly_pos_stamps").json["data"]
        assert data["earnedStamps"] == 1 and data["earnedPoints"] == 0
        assert data["customerStamps"] == expected_total


def test_negative_amount_deducts_only_where_the_org_accepts_it(client):
    assert xtarly(client, {"amount": -1999, "customerId": "cus_alice"}).status_code == 400
    xtarly(client, {"amount": 5000, "customerId": "cus_alice"}, key="xtarly_pos_negative")
    refund = xtarly(client, {"amount": -1999, "customerId": "cus_alice"}, key="xtarly_pos_negative")
    assert refund.status_code == 200
    assert refund.json["data"]["earnedPoints"] == -19 and refund.json["data"]["customerPoints"] == 31


# --- Cockato -------------------------------------------------------------------

@pytest.mark.parametrize("identifier", [
    {"barcode": "LOYAL-0001"}, {"customer_id": "cus_alice"}, {"email": "Alice@Example.COM"},
    {"phone": "0412345678"}, {"phone": "+61412345678"}, {"phone": "61412345678"},
    {"phone": "+61 412 345 678"}, {"barcode": "LOYAL-9999", "email": "alice@example.com"},
])
def test_cockato_finds_the_customer_by_any_identifier(client, identifier):
    response = cockato(client, {"amount": 2550, "currency": "AUD", **identifier})
    assert response.status_code == 200, response.json
    assert response.json["customer"]["id"] == "cus_alice"
    assert response.json["points_awarded"] == 25 and response.json["customer"]["points_balance"] == 25


def test_cockato_unknown_customer_and_missing_identifier(client):
    unknown = cockato(client, {"amount": 100, "barcode": "LOYAL-9999", "phone": "0499999999"})
    assert unknown.status_code == 404
    assert unknown.json["error"] == {"code": "CUSTOMER_NOT_FOUND", "message": "customer not found"}
    missing = cockato(client, {"amount": 100, "email": ""})
    assert missing.status_code == 400 and error_code(missing) == "VALIDATION_ERROR"


@pytest.mark.parametrize("body", [
    {"barcode": "LOYAL-0001"},
    {"barcode": "LOYAL-0001", "amount": 19.99},
    {"barcode": "LOYAL-0001", "amount": -100},
    {"barcode": "LOYAL-0001", "amount": 100, "transaction_date": "yesterday"},
    {"barcode": "LOYAL-0001", "amount": 100, "currency": "dollars"},
    {"barcode": 1, "amount": 100},
])
def test_cockato_validation_errors(client, body):
    response = cockato(client, body)
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"


def test_cockato_points_and_punches_with_backfill_and_outlet(client):
    response = cockato(client, {
        "phone": "0400111222", "amount": 1234, "punches": 2, "currency": "aud",
        "outlet_id": "out-1", "outlet_name": "Main St", "transaction_date": "2024-03-01T09:30:00+11:00",
        "reference": "sale-77", "metadata": {"till": 3}})
    assert response.json["customer"] == {"id": "cus_bob", "name": "Bob Chen", "points_balance": 12, "punches": 2}
    assert response.json["punches_awarded"] == 2
    punches_only = cockato(client, {"barcode": "LOYAL-0002", "punches": 1})
    assert punches_only.json["points_awarded"] == 0 and punches_only.json["customer"]["punches"] == 3
    entry = client.get("/_sandbox/ledger").json[0]
    assert entry["transaction_date"] == "2024-03-01T09:30:00+11:00"
    assert entry["outlet"] == {"id": "out-1", "name": "Main St"}
    assert (entry["currency"], entry["reference"], entry["points"], entry["punches"]) == ("AUD", "sale-77", 12, 2)


def test_cockato_rate_limit_answers_429_with_retry_after(client):
    client.post("/_sandbox/orgs", json={"api": "cockato", "org": "busy", "key": "busy_key",
                                        "rate_limit_per_minute": 3, "customers": [{"id": "c1", "barcode": "B1"}]})
    for _ in range(3):
        assert cockato(client, {"barcode": "B1", "amount": 100}, key="busy_key").status_code == 200
    throttled = cockato(client, {"barcode": "B1", "amount": 100}, key="busy_key")
    assert throttled.status_code == 429 and error_code(throttled) == "RATE_LIMITED"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    # The limit is per organization: the demo org is unaffected.
    assert cockato(client, {"barcode": "LOYAL-0001", "amount": 100}).status_code == 200
    assert len(client.get("/_sandbox/ledger").json) == 4


# --- idempotency ---------------------------------------------------------------

def test_same_idempotency_key_replays_the_stored_response(client):
    body = {"amount": 1999, "customerId": "cus_alice"}
    first = xtarly(client, body, **{"Idempotency-Key": "sale-1"})
    second = xtarly(client, body, **{"Idempotency-Key": "sale-1"})
    assert first.status_code == second.status_code == 200
    assert first.get_data() == second.get_data()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(client.get("/_sandbox/ledger").json) == 1
    assert xtarly(client, body, **{"Idempotency-Key": "sale-2"}).json["data"]["customerPoints"] == 38
    # Without a key every request is processed.
    xtarly(client, body)
    assert client.get("/_sandbox/ledger").json[-1]["idempotency_key"] is None
    assert len(client.get("/_sandbox/ledger").json) == 3


def test_a_404_and_a_401_are_not_stored(client):
    miss = cockato(client, {"amount": 100, "barcode": "NEW-0003"}, **{"Idempotency-Key": "k"})
    assert miss.status_code == 404
    signed_up = client.post("/_sandbox/orgs/demo-bakery/customers", json={"id": "cus_cleo", "barcode": "NEW-0003"})
    assert signed_up.status_code == 201
    retry = cockato(client, {"amount": 100, "barcode": "NEW-0003"}, **{"Idempotency-Key": "k"})
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers
    again = cockato(client, {"amount": 100, "barcode": "NEW-0003"}, **{"Idempotency-Key": "k"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [e["customer_id"] for e in client.get("/_sandbox/ledger").json] == ["cus_cleo"]
    assert client.post("/_sandbox/orgs/demo-bakery/customers", json={"id": "cus_cleo"}).status_code == 409
    assert client.post("/_sandbox/orgs/nope/customers", json={"id": "cus_x"}).status_code == 404
    assert xtarly(client, {"amount": 100, "customerId": "cus_alice"}, key="bad", **{"Idempotency-Key": "k2"}).status_code == 401
    assert xtarly(client, {"amount": 100, "customerId": "cus_alice"}, **{"Idempotency-Key": "k2"}).status_code == 200


def test_fifty_concurrent_posts_with_one_key_award_once(app, monkeypatch):
    # Slow the award math down so an unguarded check-then-award would surely interleave.
    real_points = cockato_module.cockato_points
    monkeypatch.setattr(cockato_module, "cockato_points",
                        lambda *args: (time.sleep(0.01), real_points(*args))[1])
    barrier = threading.Barrier(50)
    bodies = []

    def post():
        own_client = app.test_client()
        barrier.wait()
        bodies.append(cockato(own_client, {"amount": 1000, "barcode": "LOYAL-0001"},
                              **{"Idempotency-Key": "burst"}).get_data())

    threads = [threading.Thread(target=post) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(bodies) == 50 and len(set(bodies)) == 1
    client = app.test_client()
    assert len(client.get("/_sandbox/ledger").json) == 1
    assert client.get("/_sandbox/orgs").json[-1]["customers"][0]["points"] == 10
