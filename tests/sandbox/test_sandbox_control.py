"""The sandbox's own controls: fault injection, request counts, reset, org setup, the live page."""
from __future__ import annotations

import threading
import time

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client
from werkzeug.wrappers import Response as WerkzeugResponse

from bridge.sandbox import create_sandbox_app

from .helpers import XTARLY_DEMO, cockato, error_code, xtarly

ALICE_SALE = {"amount": 1000, "customerId": "cus_alice"}


def add_fault(client, **fault):
    response = client.post("/_sandbox/faults", json=fault)
    assert response.status_code == 201, response.json
    return response


# --- faults --------------------------------------------------------------------

def test_status_fault_answers_count_times_then_processes(client):
    add_fault(client, api="xtarly", status=500, count=3)
    for _ in range(3):
        failed = xtarly(client, ALICE_SALE, **{"Idempotency-Key": "s1"})
        assert failed.status_code == 500 and failed.json["success"] is False
    # The fault was never stored against the key, so the retry is processed.
    ok = xtarly(client, ALICE_SALE, **{"Idempotency-Key": "s1"})
    assert ok.status_code == 200 and "Idempotent-Replayed" not in ok.headers
    assert client.get("/_sandbox/requests").json["by_api"]["xtarly"] == {
        "total": 4, "by_status": {"500": 3, "200": 1}}
    assert len(client.get("/_sandbox/ledger").json) == 1


def test_faults_come_before_auth_and_respect_the_api(client):
    add_fault(client, api="cockato", status=503)
    assert xtarly(client, ALICE_SALE).status_code == 200
    assert cockato(client, {"amount": 1, "barcode": "LOYAL-0001"}, key="wrong").status_code == 503
    assert cockato(client, {"amount": 1, "barcode": "LOYAL-0001"}, key="wrong").status_code == 401


def test_429_fault_sets_retry_after_and_is_not_stored(client):
    add_fault(client, status=429, retry_after=2, count=1)
    throttled = cockato(client, {"amount": 100, "barcode": "LOYAL-0001"}, **{"Idempotency-Key": "r"})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert error_code(throttled) == "RATE_LIMITED"
    assert cockato(client, {"amount": 100, "barcode": "LOYAL-0001"}, **{"Idempotency-Key": "r"}).status_code == 200


def test_delay_fault_sleeps_then_answers_normally(client):
    add_fault(client, delay=0.3)
    started = time.monotonic()
    response = xtarly(client, ALICE_SALE)
    assert time.monotonic() - started >= 0.3 and response.status_code == 200
    started = time.monotonic()
    xtarly(client, ALICE_SALE)
    assert time.monotonic() - started < 0.3


def test_after_process_delay_awards_once_and_the_retry_gets_the_stored_answer(app, client):
    add_fault(client, after_process_delay=1.0)
    slow_answer = []
    slow = threading.Thread(target=lambda: slow_answer.append(
        xtarly(app.test_client(), ALICE_SALE, **{"Idempotency-Key": "late"})))
    slow.start()
    # The client "times out" while the core sleeps: the award is already recorded.
    deadline = time.monotonic() + 2
    while not client.get("/_sandbox/ledger").json and time.monotonic() < deadline:
        time.sleep(0.02)
    assert slow.is_alive()
    retry = xtarly(client, ALICE_SALE, **{"Idempotency-Key": "late"})
    assert retry.headers["Idempotent-Replayed"] == "true"
    slow.join()
    assert retry.get_data() == slow_answer[0].get_data()
    assert len(client.get("/_sandbox/ledger").json) == 1
    assert retry.json["data"]["customerPoints"] == 10


def test_faults_can_be_listed_and_cleared_and_bad_specs_rejected(client):
    add_fault(client, status=500, count=5)
    assert client.get("/_sandbox/faults").json[0]["count"] == 5
    assert client.delete("/_sandbox/faults").status_code == 200
    assert xtarly(client, ALICE_SALE).status_code == 200
    for bad in ({"count": 1}, {"status": 200}, {"status": 500, "api": "other"}, {"delay": -1}):
        assert client.post("/_sandbox/faults", json=bad).status_code == 400


# --- reset and org setup -------------------------------------------------------

def test_reset_restores_the_seed_and_forgets_everything(client):
    xtarly(client, ALICE_SALE, **{"Idempotency-Key": "once"})
    client.post("/_sandbox/orgs/demo-cafe/rotate-key", json={"key": "rotated"})
    client.post("/_sandbox/orgs", json={"api": "xtarly", "org": "extra", "key": "extra"})
    add_fault(client, status=500)
    assert client.post("/_sandbox/reset").status_code == 200
    assert client.get("/_sandbox/ledger").json == []
    assert client.get("/_sandbox/requests").json == {"total": 0, "by_api": {}}
    assert client.get("/_sandbox/faults").json == []
    assert "extra" not in [org["org"] for org in client.get("/_sandbox/orgs").json]
    again = xtarly(client, ALICE_SALE, **{"Idempotency-Key": "once"})
    assert again.status_code == 200 and again.json["data"]["customerPoints"] == 10
    assert "Idempotent-Replayed" not in again.headers


def test_unseeded_core_starts_empty_and_takes_orgs_from_tests():
    client = create_sandbox_app(seed=False).test_client()
    assert client.get("/_sandbox/orgs").json == []
    assert xtarly(client, ALICE_SALE).status_code == 401
    created = client.post("/_sandbox/orgs", json={
        "api": "cockato", "org": "nz-shop", "key": "nz_key", "country": "NZ",
        "points_per_currency": 2, "customers": [{"id": "k1", "name": "Kiri", "phone": "+64211234567"}]})
    assert created.status_code == 201 and created.json["country_calling_code"] == "64"
    response = cockato(client, {"amount": 1050, "phone": "021 123 4567"}, key="nz_key")
    assert response.status_code == 200 and response.json["points_awarded"] == 21
    client.post("/_sandbox/reset")
    assert client.get("/_sandbox/orgs").json == []


def test_org_specs_are_validated(client):
    assert client.post("/_sandbox/orgs", json={"api": "xtarly", "org": "demo-cafe", "key": "k"}).status_code == 409
    assert client.post("/_sandbox/orgs", json={"api": "xtarly", "org": "o", "key": "xtarly_pos_demo"}).status_code == 409
    for bad in ({"api": "square", "org": "o", "key": "k"},
                {"api": "xtarly", "org": "o", "key": "k", "program": {"type": "cashback"}},
                {"api": "cockato", "org": "o", "key": "k", "country": "ZZ"},
                {"api": "cockato", "org": "o", "key": "k", "customers": [{"name": "no id"}]}):
        response = client.post("/_sandbox/orgs", json=bad)
        assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"


def test_errors_are_json_never_html(client):
    assert client.get("/xtarly/nowhere", headers=XTARLY_DEMO).json["error"]["code"] == "NOT_FOUND"
    not_allowed = client.get("/xtarly/transaction", headers=XTARLY_DEMO)
    assert not_allowed.status_code == 405 and not_allowed.json["success"] is False


# --- the live page ---------------------------------------------------------------

def test_page_escapes_data_and_links_work_when_mounted(client):
    client.post("/_sandbox/orgs", json={"api": "xtarly", "org": "<b>org</b>", "key": "k<script>",
                                        "program": {"type": "points"},
                                        "customers": [{"id": "c1", "name": "<script>alert(1)</script>"}]})
    xtarly(client, {"amount": 500, "customerId": "c1", "metadata": {"note": "</td><script>"}}, key="k<script>")
    mounted = DispatcherMiddleware(WerkzeugResponse("bridge", status=404), {"/sandbox": client.application})
    page = Client(mounted).get("/sandbox/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'http-equiv="refresh" content="2"' in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="/sandbox/_sandbox/ledger"' in html
    assert "xtarly_pos_demo" in html and "LOYAL-0001" in html and "c1" in html
