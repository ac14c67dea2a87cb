"""Square: conformance, official signature vectors, and the payment rules."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from bridge import registry
from bridge.contract import ConnectionContext, InboundRequest
from bridge.errors import SignatureError
from tests.conformance import ConnectorConformance
from tests.support import PUBLIC_URL, fixture_bytes


class TestSquareConformance(ConnectorConformance):
    vendor = "square"
    award_fixture = "payment.updated.completed"
    unknown_type_fixture = "invoice.payment_made.unhandled"
    expectations = {
        "payment.updated.completed": "award",
        "payment.created.completed": "award",
        "payment.updated.completed-jpy": "award",
        "payment.created.approved": "skipped",
        "payment.updated.canceled": "skipped",
        "payment.created.completed-no-customer": "unmatched",
        "payment.updated.completed-customer-attached": "unmatched",  # no token: customer_id alone can't match
        "refund.created.pending": "skipped",
        "refund.updated.completed": "skipped",  # default: target has no reversal API
        "order.updated.completed": "skipped",
        "webhooks.test_notification.official": "skipped",
        "invoice.payment_made.unhandled": "skipped",
    }


# -- signatures: Square's own SDK test vectors (tests/integration/test_webhooks_helper.py)
OFFICIAL_BODY = fixture_bytes("square", "webhooks.test_notification.official")
OFFICIAL_URL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
OFFICIAL_KEY = "Ibxx_5AKakO-3qeNVR61Dw"
OFFICIAL_SIGNATURE = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="
square = registry.get("square")


def _verify(body: bytes, signature: str | None, url: str = OFFICIAL_URL, keys=(OFFICIAL_KEY,)):
    headers = {} if signature is None else {"x-square-hmacsha256-signature": signature}
    square.verify(InboundRequest(body=body, headers=headers, url=url),
                  ConnectionContext(id="c", vendor="square", signing_keys=tuple(keys)))


def test_official_vector_verifies():
    _verify(OFFICIAL_BODY, OFFICIAL_SIGNATURE)


def test_official_escaped_vector_verifies():
    _verify(b'{"data":{"type":"webhooks","id":">id<"}}', "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U=",
            url="https://webhook.site/webhooks", keys=("signature-key",))


def test_official_fake_id_vector_verifies():
    _verify(b'{"data":{"type":"webhooks","id":"fake_id"}}', "W3FlCNk5IA3ZQ2LHTWoajvzfaDu/OwY2tNHIHC3IUOA=",
            url="https://webhook.site/webhooks", keys=("signature-key",))


def test_sign_reproduces_the_official_signature():
    assert square.sign(OFFICIAL_BODY, OFFICIAL_URL, OFFICIAL_KEY)["x-square-hmacsha256-signature"] == OFFICIAL_SIGNATURE


@pytest.mark.parametrize("change", [
    dict(url="https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9"),
    dict(keys=("MCmhFRxGX82xMwg5FsaoQA",)),
    dict(signature="1z2n3DEJJiUPKcPzQo1ftvbxGdw="),
    dict(body=OFFICIAL_BODY.replace(b"2022-07-13", b"2022-06-13")),
    dict(body=json.dumps(json.loads(OFFICIAL_BODY), indent=2).encode()),  # re-serialised
    dict(body=OFFICIAL_BODY[:-1] + b" }"),  # one byte more
])
def test_official_negative_vectors_fail(change):
    args = dict(body=OFFICIAL_BODY, signature=OFFICIAL_SIGNATURE, url=OFFICIAL_URL, keys=(OFFICIAL_KEY,))
    args.update(change)
    with pytest.raises(SignatureError, match="does not match"):
        _verify(**args)


@pytest.mark.parametrize("expected", [OFFICIAL_URL.replace("https://", "http://"), OFFICIAL_URL + "/"])
def test_official_vector_for_another_url_is_refused_and_names_the_signed_url(expected):
    with pytest.raises(SignatureError, match=f"Square signed this request for `{OFFICIAL_URL}`"):
        _verify(OFFICIAL_BODY, OFFICIAL_SIGNATURE, url=expected)


def test_missing_header_names_the_header():
    with pytest.raises(SignatureError, match="no x-square-hmacsha256-signature header"):
        _verify(OFFICIAL_BODY, None)


def test_any_of_several_keys_verifies_during_rotation():
    _verify(OFFICIAL_BODY, OFFICIAL_SIGNATURE, keys=("old-key", OFFICIAL_KEY))


def test_non_utf8_body_is_rejected_not_crashed():
    with pytest.raises(SignatureError, match="not UTF-8"):
        _verify(b"\xff\xfe{}", OFFICIAL_SIGNATURE)


# -- through the app: the URL as published, not request.url
@pytest.mark.parametrize("signed_url", [
    PUBLIC_URL.replace("https://", "http://") + "/hooks/{id}",
    PUBLIC_URL + "/hooks/{id}/",
    "http://localhost/hooks/{id}",
])
def test_request_signed_for_another_url_is_401(harness, signed_url):
    connection = harness.add_connection()
    response = harness.post_fixture(connection.id, "payment.updated.completed",
                                    signed_url=signed_url.format(id=connection.id))
    assert response.status_code == 401
    assert harness.events() == []


def test_trailing_slash_is_answered_never_redirected(harness):
    """The path routes either way (a 3xx is a failed delivery to Square); the
    signature is checked against the URL as published, whatever path was hit."""
    connection = harness.add_connection()
    body = fixture_bytes("square", "payment.updated.completed")
    published = f"{PUBLIC_URL}/hooks/{connection.id}"
    signed_with_slash = square.sign(body, published + "/", "test-signature-key")
    assert harness.client.post(f"/hooks/{connection.id}/", data=body, headers=signed_with_slash).status_code == 401
    signed_as_published = square.sign(body, published, "test-signature-key")
    assert harness.client.post(f"/hooks/{connection.id}/", data=body, headers=signed_as_published).status_code == 202


# -- payment rules
def test_tips_are_excluded_by_default_and_included_on_request(harness):
    plain = harness.add_connection(name="plain")
    tipped = harness.add_connection(name="tips", settings={"include_tips": "true"})
    for connection in (plain, tipped):
        harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    amounts = {row.connection_id: row.amount_minor for row in harness.transactions()}
    assert amounts == {plain.id: 1999, tipped.id: 2299}


def test_jpy_amount_is_taken_as_minor_units(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed-jpy")
    harness.drain()
    [tx] = harness.transactions()
    assert (tx.amount_minor, tx.currency) == (1650, "JPY")


def test_created_then_two_updates_award_once_under_one_key(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.created.completed")
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.post_fixture(connection.id, "payment.updated.completed",
                         mutate=lambda doc: doc.update(event_id="another-update"))
    harness.drain()
    assert len(harness.events()) == 3
    assert [e.status for e in harness.events()] == ["delivered"] * 3
    [award] = harness.ledger()
    assert len(harness.transactions()) == 1
    assert award["idempotency_key"] == harness.transactions()[0].idempotency_key


def test_approved_then_completed_awards_on_completion(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.created.approved")
    harness.drain()
    assert harness.ledger() == []
    harness.post_fixture(connection.id, "payment.created.approved", mutate=_complete)
    harness.drain()
    assert len(harness.ledger()) == 1


def _complete(doc):
    doc["event_id"] = "completion-event"
    doc["type"] = "payment.updated"
    doc["data"]["object"]["payment"].update(status="COMPLETED", buyer_email_address="bob@example.com")


def test_canceled_after_completion_never_moves_the_sale_back(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.post_fixture(connection.id, "payment.updated.completed", mutate=_cancel)
    harness.drain()
    assert len(harness.ledger()) == 1
    assert harness.transactions()[0].status == "delivered"


def _cancel(doc):
    doc["event_id"] = "late-cancel"
    doc["data"]["object"]["payment"]["status"] = "CANCELED"


# -- the asynchronous customer, through the squareup SDK (httpx, intercepted by respx)
SQUARE_API = "https://square-fake.test"


@respx.mock(base_url=SQUARE_API, assert_all_called=True)
def test_customer_attached_later_is_delivered_then_under_the_same_key(respx_mock, harness):
    customer = respx_mock.get("/v2/customers/JDKYHBWT1D4F8MFH63DBMEN8Y4").mock(return_value=httpx.Response(
        200, json={"customer": {"id": "JDKYHBWT1D4F8MFH63DBMEN8Y4", "email_address": "Bob@Example.com",
                                "phone_number": "0400 111 222", "given_name": "Bob", "family_name": "Chen"}}))
    connection = harness.add_connection(target="cockato", vendor_token="EAAA-square-token", country="AU",
                                        settings={"api_base_url": SQUARE_API})
    harness.post_fixture(connection.id, "payment.created.completed-no-customer")
    harness.drain()
    assert harness.events()[0].status == "unmatched"
    harness.post_fixture(connection.id, "payment.updated.completed-customer-attached")
    harness.drain()
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_bob"
    [tx] = harness.transactions()
    assert (tx.customer_email, tx.customer_phone) == ("bob@example.com", "+61400111222")
    assert award["idempotency_key"] == tx.idempotency_key
    assert customer.calls.last.request.headers["authorization"] == "Bearer EAAA-square-token"
    assert [e.status for e in harness.events()] == ["delivered", "delivered"]


@respx.mock(base_url=SQUARE_API)
def test_square_api_down_retries_the_event_later(respx_mock, harness):
    route = respx_mock.get("/v2/customers/JDKYHBWT1D4F8MFH63DBMEN8Y4")
    route.side_effect = [httpx.Response(503, json={"errors": []}),
                         httpx.Response(200, json={"customer": {"id": "x", "email_address": "alice@example.com"}})]
    connection = harness.add_connection(vendor_token="tok", settings={"api_base_url": SQUARE_API})
    harness.post_fixture(connection.id, "payment.updated.completed-customer-attached")
    harness.drain()
    [event] = harness.events()
    assert event.status == "received" and "503" in event.reason
    harness.make_due()
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1
    assert route.call_count == 2


def test_refund_posts_as_negative_amount_for_the_sale_customer_when_asked(harness):
    connection = harness.add_connection(target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.post_fixture(connection.id, "refund.created.pending")
    harness.post_fixture(connection.id, "refund.updated.completed")
    harness.drain()
    sale, refund = harness.ledger()
    assert (sale["amount"], refund["amount"]) == (1999, -999)
    assert refund["customer_id"] == sale["customer_id"]
    assert refund["points"] < 0


def test_refund_by_default_is_skipped_with_the_reason_and_awards_nothing(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.post_fixture(connection.id, "refund.updated.completed")
    harness.drain()
    assert len(harness.ledger()) == 1
    refund_event = harness.events()[1]
    assert refund_event.status == "skipped"
    assert "no reversal API" in refund_event.reason


def test_an_older_payment_version_arriving_late_is_skipped_as_stale(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed")  # version 3
    harness.post_fixture(connection.id, "payment.created.completed")  # version 1, late
    harness.drain()
    late = harness.events()[1]
    assert late.status == "skipped" and "stale: version 1" in late.reason
    assert len(harness.ledger()) == 1
