"""Toast: conformance, and the check rules through the real app with real signatures."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from bridge.errors import ConfigError
from connectors.toast.orders import phone_of
from connectors.toast.payload import Node, load
from connectors.toast.tests.helpers import (
    CHECK,
    OTHER_RESTAURANT,
    RESTAURANT,
    SECRET,
    as_event,
    connect,
    first_check,
    kinds,
    post,
    toast,
)
from tests.conformance import ConnectorConformance
from tests.support import fixture_bytes


class TestToastConformance(ConnectorConformance):
    vendor = "toast"
    award_fixture = "order_updated.paid"
    unknown_type_fixture = "future_category.unhandled"
    signing_key = SECRET
    expectations = {
        "order_updated.open": "skipped",
        "order_updated.paid": "award",
        "order_updated.tip-adjusted": "award",  # alone, it is the first sighting of a paid check
        "order_updated.closed": "award",
        "order_updated.voided": "skipped",  # the void is recorded; by default the target has no reversal API
        "order_updated.refund-partial": "award",  # the sale awards; its refund is recorded as skipped
        "order_updated.refund-full": "award",
        "order_updated.split-checks": "award",  # one check paid, the other still open
        "order_updated.loyalty-integration": "unmatched",  # Xtarly matches by email only; Cockato awards it below
        "order_updated.loyalty-other-vendor": "unmatched",
        "order_updated.other-restaurant": "award",  # no restaurants setting: every location of the secret
        "menus.updated": "skipped",
        "stock.out-of-stock": "skipped",
        "partner.added": "skipped",
        "future_category.unhandled": "skipped",
    }

    def connect(self, harness, **kwargs):
        kwargs.setdefault("currency", "USD")
        kwargs.setdefault("country", "US")
        return super().connect(harness, **kwargs)


# -- when a check awards
def test_open_then_paid_then_closed_awards_once_on_the_check(harness):
    connection = connect(harness)
    for name in ("order_updated.open", "order_updated.paid", "order_updated.closed"):
        assert post(harness, connection, name).status_code == 202
    harness.drain()
    [award] = harness.ledger()
    [tx] = harness.transactions()
    assert (tx.source_id, tx.kind, tx.amount_minor, tx.currency) == (CHECK, "sale", 3485, "USD")
    assert award["idempotency_key"] == tx.idempotency_key and award["amount"] == 3485
    assert [e.status for e in harness.events()] == ["skipped", "delivered", "delivered"]
    assert "is OPEN, not PAID or CLOSED" in harness.events()[0].reason


def test_open_check_never_awards(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.open")
    harness.drain()
    assert harness.ledger() == [] and harness.transactions() == []


def test_tip_adjustment_after_paid_changes_nothing(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.paid")
    harness.drain()
    post(harness, connection, "order_updated.tip-adjusted")
    post(harness, connection, "order_updated.closed")
    harness.drain()
    [award] = harness.ledger()
    assert award["amount"] == 3485  # totalAmount: tax in, the 6.00 tip out
    assert len(harness.transactions()) == 1


def test_every_order_change_is_a_new_event_and_still_one_award(harness):
    connection = connect(harness)
    for number in range(5):
        post(harness, connection, "order_updated.paid", mutate=as_event(f"change-{number}"))
    harness.drain()
    assert len(harness.events()) == 5 and len(harness.ledger()) == 1


def test_channel_order_updated_is_read_like_order_updated(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.paid",
         mutate=as_event("channel-1", lambda doc: doc.update(eventType="channel_order_updated")))
    harness.drain()
    assert len(harness.ledger()) == 1
    assert harness.events()[0].event_type == "channel_order_updated"


def test_guest_email_is_lower_cased_and_awards_that_guest(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.paid")
    harness.drain()
    [award] = harness.ledger()
    [tx] = harness.transactions()
    assert tx.customer_email == "alice@example.com" and award["customer_id"] == "cus_alice"
    assert (tx.location_id, tx.reference) == (RESTAURANT, "42")


def test_split_checks_award_each_on_its_own(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.split-checks")
    harness.drain()
    assert [a["amount"] for a in harness.ledger()] == [2180]

    def second_guest_pays(doc):
        second = doc["details"]["order"]["checks"][1]
        second.update(paymentStatus="PAID", paidDate="2026-03-28T19:48:00.000+0000",
                      customer={"guid": "g2", "email": "bob@example.com"})
    post(harness, connection, "order_updated.split-checks", mutate=as_event("split-2", second_guest_pays))
    harness.drain()
    first, second = harness.ledger()
    assert (first["customer_id"], first["amount"]) == ("cus_alice", 2180)
    assert (second["customer_id"], second["amount"]) == ("cus_bob", 1635)
    assert len({tx.source_id for tx in harness.transactions()}) == 2


def test_amount_is_rounded_once_half_up_from_decimal(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.paid",
         mutate=lambda doc: first_check(doc).update(totalAmount=10.005))
    harness.drain()
    assert harness.transactions()[0].amount_minor == 1001


def test_money_is_parsed_as_decimal_never_float():
    document = load(b'{"a": 34.85, "b": 0.1}')
    assert document["a"] == Decimal("34.85") and isinstance(document["b"], Decimal)
    assert Node(document).money("a") * 100 == Decimal("3485.00")


def test_a_wrong_shape_names_the_path(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.paid",
         mutate=lambda doc: first_check(doc).update(totalAmount="34.85"))
    harness.drain()
    [event] = harness.events()
    assert event.status == "failed"
    assert "details.order.checks[0].totalAmount: expected a number" in event.reason


def test_both_timestamp_formats_are_read():
    assert Node({"t": "2024-04-01T15:09:30.223+0000"}).when("t").isoformat() == "2024-04-01T15:09:30.223000+00:00"
    assert Node({"t": "2024-03-28T15:11:01.050Z"}).when("t").isoformat() == "2024-03-28T15:11:01.050000+00:00"


def test_sale_time_is_the_check_paid_date(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.paid")
    harness.drain()
    assert harness.transactions()[0].occurred_at.isoformat().startswith("2026-03-28T19:41:58.207")


# -- identity
def test_loyalty_identifier_from_our_integration_is_the_barcode(harness):
    connection = connect(harness, target="cockato", currency="AUD", country="AU")
    post(harness, connection, "order_updated.loyalty-integration")
    harness.drain()
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_alice" and award["amount"] == 3485
    assert harness.transactions()[0].customer_barcode == "LOYAL-0001"


def test_another_vendors_loyalty_identifier_is_not_used(harness):
    connection = connect(harness, target="cockato", currency="AUD", country="AU")
    post(harness, connection, "order_updated.loyalty-other-vendor")
    harness.drain()
    assert harness.ledger() == []
    [tx] = harness.transactions()
    assert tx.status == "unmatched" and tx.customer_barcode is None


def test_the_masked_identifier_is_never_used(harness):
    connection = connect(harness, target="cockato", currency="AUD", country="AU")
    post(harness, connection, "order_updated.loyalty-integration",
         mutate=lambda doc: first_check(doc)["appliedLoyaltyInfo"].update(loyaltyIdentifier=None))
    harness.drain()
    assert harness.ledger() == [] and harness.transactions()[0].status == "unmatched"


@pytest.mark.parametrize("phone, code, country, expected", [
    ("0400 111 222", "61", None, "+61400111222"),  # numeric, as the restaurants API writes its own
    ("0400 111 222", "+61", None, "+61400111222"),
    ("0400 111 222", "AU", None, "+61400111222"),  # the other reading: a region
    ("0400 111 222", None, "AU", "+61400111222"),  # none: the connection's country
    ("333-555-5555", None, None, None),  # no country at all: not guessed
    ("+61 400 111 222", "1", None, "+61400111222"),
])
def test_phone_country_code_readings(phone, code, country, expected):
    assert phone_of(phone, code, country) == expected


# -- voids and refunds
def test_void_after_award_is_a_reversal_for_the_same_guest(harness):
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "order_updated.paid")
    harness.drain()
    post(harness, connection, "order_updated.voided")
    harness.drain()
    sale, void = harness.ledger()
    assert (sale["amount"], void["amount"]) == (3485, -3485)
    assert void["customer_id"] == sale["customer_id"] == "cus_alice"
    assert kinds(harness) == [("sale", CHECK, 3485, "delivered"), ("void", CHECK, 3485, "delivered")]
    assert harness.transactions()[1].refund_of == CHECK


def test_a_paid_retry_arriving_after_the_void_never_awards(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.voided")
    harness.drain()
    post(harness, connection, "order_updated.paid")  # Toast's retry, 5 minutes late
    harness.drain()
    assert harness.ledger() == []
    late = harness.events()[1]
    assert late.status == "skipped" and "voided before it was awarded" in late.reason


def test_void_by_default_is_recorded_as_skipped(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.paid")
    post(harness, connection, "order_updated.voided")
    harness.drain()
    assert len(harness.ledger()) == 1
    void_event = harness.events()[1]
    assert void_event.status == "skipped" and "no reversal API" in void_event.reason


def test_void_when_toast_zeroes_the_total_reverses_what_was_paid(harness):
    """Check totals after a full void are undocumented: the voided payment keeps the amount."""
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "order_updated.paid")
    post(harness, connection, "order_updated.voided",
         mutate=lambda doc: first_check(doc).update(totalAmount=0.0, amount=0.0, taxAmount=0.0))
    harness.drain()
    assert [a["amount"] for a in harness.ledger()] == [3485, -3485]


def test_check_voided_before_payment_reverses_nothing(harness):
    connection = connect(harness, settings={"refunds": "negative"}, target_key="xtarly_pos_negative")
    post(harness, connection, "order_updated.open",
         mutate=lambda doc: first_check(doc).update(voided=True))
    harness.drain()
    [event] = harness.events()
    assert event.status == "skipped" and "voided before payment" in event.reason
    assert harness.transactions() == []


def test_void_of_a_check_that_never_awarded_takes_nothing_from_anyone(harness):
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "order_updated.voided")
    harness.drain()
    assert harness.ledger() == []
    assert harness.transactions()[0].status == "unmatched"


def _before_refund(doc):
    check = first_check(doc)
    check["payments"][0].update(refundStatus="NONE", refund=None)
    for selection in check["selections"]:
        selection["refundDetails"] = None


def test_partial_refund_after_award_is_a_reversal(harness):
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "order_updated.refund-partial", mutate=as_event("before-refund", _before_refund))
    harness.drain()
    post(harness, connection, "order_updated.refund-partial")
    harness.drain()
    sale, refund = harness.ledger()
    assert (sale["amount"], refund["amount"]) == (3485, -1461)
    assert refund["customer_id"] == "cus_alice"
    refund_tx = harness.transactions()[1]
    assert (refund_tx.kind, refund_tx.source_id) == ("refund", "e6f7a8b9-c0d1-4e2f-a3b4-c5d6e7f8a9b0")
    assert refund_tx.refund_of == "d6e7f8a9-b0c1-4d2e-9f3a-4b5c6d7e8f9a"


def test_full_refund_reverses_the_whole_check_without_the_tip(harness):
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "order_updated.refund-full")
    harness.drain()
    assert [a["amount"] for a in harness.ledger()] == [3485, -3485]


def test_refund_by_default_is_recorded_and_the_sale_still_awards(harness):
    connection = connect(harness)
    post(harness, connection, "order_updated.refund-partial")
    harness.drain()
    assert len(harness.ledger()) == 1
    assert [tx.status for tx in harness.transactions()] == ["delivered", "skipped"]


def test_a_second_refund_with_its_own_guid_reverses_again(harness):
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "order_updated.refund-partial")

    def another_refund(doc):
        first_check(doc)["payments"][0]["refund"].update(
            refundAmount=5.0, refundTransaction={"guid": "second-refund", "entityType": "RefundTransaction"})
    post(harness, connection, "order_updated.refund-partial", mutate=as_event("refund-2", another_refund))
    harness.drain()
    assert [a["amount"] for a in harness.ledger()] == [3485, -1461, -500]


def test_a_refund_resent_under_its_guid_never_reverses_twice(harness):
    """If Toast accumulates refunds under one refund GUID, the first amount stands (README)."""
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "order_updated.refund-partial")
    post(harness, connection, "order_updated.refund-partial", mutate=as_event(
        "refund-again", lambda doc: first_check(doc)["payments"][0]["refund"].update(refundAmount=20.0)))
    harness.drain()
    assert [a["amount"] for a in harness.ledger()] == [3485, -1461]


# -- ignored categories
@pytest.mark.parametrize("name, reason", [
    ("menus.updated", "menu changes"), ("stock.out-of-stock", "stock changes"),
    ("partner.added", "partner"), ("future_category.unhandled", "future_category events are not handled"),
])
def test_ignored_categories_are_acknowledged_and_skipped(harness, name, reason):
    connection = connect(harness)
    assert post(harness, connection, name).status_code == 202
    harness.drain()
    [event] = harness.events()
    assert event.status == "skipped" and reason in event.reason
    assert harness.transactions() == []


def test_partner_events_carry_no_restaurant_header():
    headers = toast.sign(fixture_bytes("toast", "partner.added"), "u", SECRET)
    assert "Toast-Restaurant-External-ID" not in headers


# -- dedupe
def test_the_same_event_guid_twice_is_one_event_even_if_the_retry_differs(harness):
    connection = connect(harness)
    assert post(harness, connection, "order_updated.paid").status_code == 202
    again = post(harness, connection, "order_updated.paid",
                 mutate=lambda doc: doc.update(timestamp="2026-03-28T19:47:07.050Z"))
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    harness.drain()
    assert len(harness.events()) == 1 and len(harness.ledger()) == 1


# -- restaurants
def test_a_restaurant_the_connection_does_not_serve_is_refused(harness, caplog):
    connection = connect(harness, settings={"restaurants": f" {RESTAURANT} "})
    refused = post(harness, connection, "order_updated.other-restaurant")
    assert refused.status_code == 401
    assert f"restaurant {OTHER_RESTAURANT} is not one this connection serves" in refused.get_json()["detail"]
    assert "not one this connection serves" in caplog.text
    assert post(harness, connection, "order_updated.paid").status_code == 202
    assert len(harness.events()) == 1


def test_a_connection_may_serve_several_restaurants(harness):
    connection = connect(harness, settings={"restaurants": f"{RESTAURANT},{OTHER_RESTAURANT}"})
    assert post(harness, connection, "order_updated.other-restaurant").status_code == 202


def test_a_header_that_disagrees_with_the_body_is_refused(harness):
    connection = connect(harness)
    response = post(harness, connection, "order_updated.paid",
                    headers={"Toast-Restaurant-External-ID": OTHER_RESTAURANT})
    assert response.status_code == 401 and "disagrees" in response.get_json()["detail"]
    assert harness.events() == []


# -- large bodies
def test_a_700_kb_order_is_accepted_and_awards(harness):
    connection = connect(harness)

    def many_selections(doc):
        check = first_check(doc)
        template = check["selections"][0]
        check["selections"] = [dict(copy.deepcopy(template), guid=f"sel-{n:06d}") for n in range(1400)]
    response = post(harness, connection, "order_updated.paid", mutate=many_selections)
    assert response.status_code == 202
    [event] = harness.events()
    assert len(event.body) > 600_000
    harness.drain()
    assert len(harness.ledger()) == 1


# -- connection checks
@pytest.mark.parametrize("kwargs, message", [
    (dict(currency=None), "pass --currency"),
    (dict(vendor_token="no-colon"), "CLIENT_ID:CLIENT_SECRET"),
    (dict(vendor_token="id:"), "CLIENT_ID:CLIENT_SECRET"),
    (dict(settings={"signing": "sha1"}), "signing must be one of"),
    (dict(settings={"api_base_url": "ftp://x"}), "api_base_url"),
])
def test_connections_that_could_never_work_are_refused(harness, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        connect(harness, **kwargs)


def test_credentials_without_currency_are_enough(harness):
    connect(harness, currency=None, vendor_token="client-id:client-secret")



def test_a_loyalty_card_added_after_payment_delivers_the_unmatched_sale(harness):
    connection = connect(harness, target="cockato", currency="AUD", country="AU")
    post(harness, connection, "order_updated.loyalty-integration",
         mutate=as_event("before-card", lambda doc: first_check(doc).update(appliedLoyaltyInfo=None)))
    harness.drain()
    assert harness.transactions()[0].status == "unmatched"
    post(harness, connection, "order_updated.loyalty-integration")
    harness.drain()
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_alice"
    assert [e.status for e in harness.events()] == ["delivered", "delivered"]


def test_an_envelope_without_a_guid_is_refused_as_unreadable(harness):
    connection = connect(harness)
    response = post(harness, connection, "order_updated.paid", mutate=lambda doc: doc.pop("guid"))
    assert response.status_code == 400 and "guid: missing" in response.get_json()["detail"]
