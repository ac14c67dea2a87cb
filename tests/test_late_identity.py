"""Late identities (issue #13 part 1): a completed sale that ended `unmatched`
is delivered once, under its own idempotency key, when a later event for the
same sale brings a customer, or when the customer the core did not know signs
up and support replays it. Never twice, whatever comes after."""

from __future__ import annotations

import json

import httpx

from bridge import replay
from connectors.generic.tests import posting as generic
from tests.support import fixture_bytes

LS_KEY = "test-signature-key"
TOAST_SECRET = "orders-secret"


def _statuses(harness):
    return [event.status for event in harness.events()]


def _award_once(harness, key: str) -> dict:
    [award] = harness.ledger()
    [tx] = harness.transactions()
    assert award["idempotency_key"] == key == tx.idempotency_key
    assert tx.status == "delivered"
    return award


# -- Square: payment.updated brings buyer_email_address (or a customer_id, see connectors/square/tests)
def _square_event(event_id: str, version: int, email: str | None):
    def mutate(doc):
        doc["event_id"] = event_id
        payment = doc["data"]["object"]["payment"]
        payment["version"] = version
        payment["buyer_email_address"] = email
    return mutate


def test_square_sale_without_customer_awards_once_when_a_later_update_brings_the_email(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.created.completed-no-customer")
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "unmatched" and harness.ledger() == []
    key = tx.idempotency_key
    harness.post_fixture(connection.id, "payment.created.completed-no-customer",
                         mutate=_square_event("evt-late-email", 2, "Alice@Example.com"))
    harness.drain()
    award = _award_once(harness, key)
    assert award["customer_id"] == "cus_alice"
    harness.post_fixture(connection.id, "payment.created.completed-no-customer",
                         mutate=_square_event("evt-third", 3, "bob@example.com"))
    harness.drain()
    _award_once(harness, key)
    assert _statuses(harness) == ["delivered", "delivered", "delivered"]


def test_square_update_that_brings_no_identity_does_not_reopen_the_sale(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.created.completed-no-customer")
    # customer_id alone (no Square token to look it up) is no identity a core can use
    harness.post_fixture(connection.id, "payment.updated.completed-customer-attached")
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "unmatched" and tx.vendor_customer_id and tx.attempts == 0
    assert harness.dispatcher.jobs == type(harness.dispatcher.jobs)()


# -- Lightspeed X-Series: the walk-in sale gets a customer attached and is re-saved
def _ls_fixture(name: str) -> dict:
    return json.loads(fixture_bytes("lightspeed", name))


def test_lightspeed_walk_in_sale_awards_once_when_a_customer_is_attached(harness):
    connection = harness.add_connection(vendor="lightspeed", signing_keys=(LS_KEY,), currency="USD")
    harness.post_fixture(connection.id, "sale.update.walk-in", vendor="lightspeed", signing_key=LS_KEY)
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "unmatched" and harness.ledger() == []
    alice = _ls_fixture("sale.update.closed")["customer"]
    walk_in = _ls_fixture("sale.update.walk-in")
    for version in (walk_in["version"] + 10, walk_in["version"] + 20):
        harness.post_fixture(connection.id, "sale.update.walk-in", vendor="lightspeed", signing_key=LS_KEY,
                             mutate=_resave(version, alice))
        harness.drain()
    award = _award_once(harness, tx.idempotency_key)
    assert award["customer_id"] == "cus_alice"
    assert _statuses(harness) == ["delivered", "delivered", "delivered"]


def _resave(version: int, customer: dict):
    def mutate(doc):
        doc["version"] = version
        doc["customer"], doc["customer_id"] = customer, customer["id"]
    return mutate


# -- Toast: the paid check gets a guest attached in a later order_updated
def _toast_event(guid: str, customer: dict | None):
    def mutate(doc):
        doc["guid"] = guid
        doc["details"]["order"]["checks"][0]["customer"] = customer
    return mutate


def test_toast_anonymous_check_awards_once_when_a_guest_is_attached(harness):
    connection = harness.add_connection(vendor="toast", signing_keys=(TOAST_SECRET,), currency="USD", country="US")
    harness.post_fixture(connection.id, "order_updated.paid", vendor="toast", signing_key=TOAST_SECRET,
                         mutate=_toast_event("11111111-0000-4000-8000-000000000001", None))
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "unmatched" and harness.ledger() == []
    guest = {"guid": "4b6d8f0a-2c4e-46a8-b0c2-d4e6f8a0b2c4", "entityType": "Customer",
             "email": "Alice@Example.com", "firstName": None, "lastName": None, "phone": None,
             "phoneCountryCode": None}
    for n, customer in ((2, guest), (3, {**guest, "email": "bob@example.com"})):
        harness.post_fixture(connection.id, "order_updated.paid", vendor="toast", signing_key=TOAST_SECRET,
                             mutate=_toast_event(f"11111111-0000-4000-8000-00000000000{n}", customer))
        harness.drain()
    award = _award_once(harness, tx.idempotency_key)
    assert award["customer_id"] == "cus_alice"
    assert _statuses(harness) == ["delivered", "delivered", "delivered"]


# -- the core did not know the customer (404): they sign up, support replays
def _signs_up_then_replay_awards_once(harness, org: str, newcomer: dict) -> None:
    [event] = harness.events()
    [tx] = harness.transactions()
    assert tx.status == "unmatched" and "404" in (tx.reason or "") and harness.ledger() == []
    assert harness.sandbox("post", f"orgs/{org}/customers", json={"id": "cus_new", **newcomer}).status_code == 201
    for _ in range(2):  # the second replay finds the sale delivered: nothing more
        replay.replay(harness.db, harness.dispatcher, [event.id], "support:test")
        harness.drain()
        award = _award_once(harness, tx.idempotency_key)
        assert award["customer_id"] == "cus_new"


def test_square_sale_for_an_unknown_email_awards_on_replay_after_sign_up(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed", mutate=lambda doc: doc["data"]["object"][
        "payment"].update(buyer_email_address="newcomer@example.com"))
    harness.drain()
    _signs_up_then_replay_awards_once(harness, "demo-cafe", {"email": "newcomer@example.com"})


def test_generic_sale_for_an_unknown_phone_awards_on_replay_after_sign_up(harness):
    connection = generic.connect(harness, target="cockato")
    generic.post(harness, connection, {"reference": "R-2001", "amount": "12.50", "phone": "0499 000 111"})
    harness.drain()
    _signs_up_then_replay_awards_once(harness, "demo-bakery", {"phone": "+61499000111"})


# -- an identity that arrives while the first delivery is in flight is not lost
class _LaterEventMidFlight(httpx.BaseTransport):
    """Forwards to the app, but first, once, lets `during` run: the later
    event is stored and parsed while the first attempt is on the wire."""

    def __init__(self, inner: httpx.BaseTransport, during) -> None:
        self.inner, self.during = inner, during

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        during, self.during = self.during, None
        if during:
            during()
        return self.inner.handle_request(request)


def test_an_identity_arriving_while_the_404_attempt_is_in_flight_is_sent_again(harness):
    connection = generic.connect(harness, target="cockato")
    sale = {"reference": "R-3001", "amount": "12.50", "phone": "0499 000 111"}  # nobody at the core

    def later_event():
        generic.post(harness, connection, {**sale, "barcode": "LOYAL-0001"},
                     headers={"Idempotency-Key": "second-sighting"})
        job = harness.dispatcher.jobs.pop()
        harness.work.process_event(job[1])  # merges the card into the row being delivered

    inner = httpx.WSGITransport(app=harness.app)
    harness.http = httpx.Client(
        transport=_LaterEventMidFlight(inner, later_event), base_url="https://bridge.example.com")
    harness.work.deliverer.http = harness.http
    generic.post(harness, connection, sale)
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "pending" and "arrived meanwhile" in tx.reason
    harness.sweep_and_drain()
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_alice" and award["idempotency_key"] == tx.idempotency_key
    assert [e.status for e in harness.events()] == ["delivered", "delivered"]
