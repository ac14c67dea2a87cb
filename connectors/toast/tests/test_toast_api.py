"""Enrichment through Toast's Orders and Restaurants APIs (httpx, intercepted by respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from bridge.contract import ConnectionContext
from bridge.errors import EnrichmentUnavailable
from connectors.toast import api
from connectors.toast.tests.helpers import ORDER, RESTAURANT, TOAST_API, as_event, connect, first_check, post
from tests.support import fixture_bytes

LOGIN = "/authentication/v1/authentication/login"


def _token(value="jwt-1", expires_in=86400):
    return httpx.Response(200, json={"@class": ".SuccessfulResponse", "status": "SUCCESS",
                                     "token": {"tokenType": "Bearer", "accessToken": value,
                                               "expiresIn": expires_in, "scope": "orders:read guest.pi:read"}})


def _order_with_guest(guest, voided=False):
    order = json.loads(fixture_bytes("toast", "order_updated.paid"))["details"]["order"]
    order["checks"][0].update(customer=guest, voided=voided)
    return order


def _without_customer(event_guid):
    return as_event(event_guid, lambda doc: first_check(doc).update(customer=None))


@pytest.fixture
def toast_api():
    with respx.mock(base_url=TOAST_API, assert_all_called=False) as mock:
        yield mock


def api_connection(harness, **kwargs):
    kwargs.setdefault("target", "cockato")
    kwargs.setdefault("currency", "AUD")
    kwargs.setdefault("country", "AU")
    return connect(harness, vendor_token="client-id:client-secret",
                   settings={"api_base_url": TOAST_API, **kwargs.pop("settings", {})}, **kwargs)


def test_guest_phone_from_the_orders_api_awards_that_guest(harness, toast_api):
    login = toast_api.post(LOGIN).mock(return_value=_token())
    order = toast_api.get(f"/orders/v2/orders/{ORDER}").mock(return_value=httpx.Response(200, json=_order_with_guest(
        {"guid": "g", "firstName": "Bob", "lastName": "Chen", "phone": "0400 111 222", "phoneCountryCode": "61",
         "email": None})))
    connection = api_connection(harness)
    post(harness, connection, "order_updated.paid", mutate=_without_customer("no-guest"))
    harness.drain()
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_bob"
    [tx] = harness.transactions()
    assert (tx.customer_phone, tx.customer_name) == ("+61400111222", "Bob Chen")
    assert json.loads(login.calls.last.request.content) == {
        "clientId": "client-id", "clientSecret": "client-secret", "userAccessType": "TOAST_MACHINE_CLIENT"}
    sent = order.calls.last.request.headers
    assert sent["authorization"] == "Bearer jwt-1" and sent["toast-restaurant-external-id"] == RESTAURANT


def test_a_check_with_an_identity_does_not_call_toast(harness, toast_api):
    login = toast_api.post(LOGIN).mock(return_value=_token())
    connection = api_connection(harness, target="xtarly")
    post(harness, connection, "order_updated.paid")
    harness.drain()
    assert len(harness.ledger()) == 1 and login.call_count == 0


def test_one_token_serves_many_events(harness, toast_api):
    login = toast_api.post(LOGIN).mock(return_value=_token())
    order = toast_api.get(f"/orders/v2/orders/{ORDER}").mock(return_value=httpx.Response(
        200, json=_order_with_guest({"guid": "g", "email": "alice@example.com"})))
    connection = api_connection(harness)
    for number in range(6):
        post(harness, connection, "order_updated.paid", mutate=_without_customer(f"event-{number}"))
    harness.drain()
    assert login.call_count == 1
    # The first event's task delivers the check at once; the five after it
    # find it awarded, and the core stops enriching a settled check.
    assert order.call_count == 1
    assert len(harness.ledger()) == 1
    post(harness, connection, "order_updated.paid", mutate=_without_customer("event-after-award"))
    harness.drain()
    assert order.call_count == 1


def test_a_token_is_renewed_only_in_its_last_minute(harness, toast_api):
    login = toast_api.post(LOGIN).mock(side_effect=[_token("jwt-1", 3600), _token("jwt-2", 3600)])
    order = toast_api.get(f"/orders/v2/orders/{ORDER}").mock(return_value=httpx.Response(
        200, json=_order_with_guest({"guid": "g", "email": "alice@example.com"})))
    connection = api_connection(harness)
    post(harness, connection, "order_updated.paid", mutate=_without_customer("e1"))
    harness.drain()
    # Each later event goes to another connection with the same credentials, so
    # its check is not yet delivered there and the Orders API is really called.
    api.SESSION.clock.now += 3600 - 90
    post(harness, api_connection(harness, name="second"), "order_updated.paid", mutate=_without_customer("e2"))
    harness.drain()
    assert login.call_count == 1
    api.SESSION.clock.now += 60
    post(harness, api_connection(harness, name="third"), "order_updated.paid", mutate=_without_customer("e3"))
    harness.drain()
    assert login.call_count == 2
    assert order.calls.last.request.headers["authorization"] == "Bearer jwt-2"


def test_a_401_gets_one_new_token_and_the_token_budget_is_two_an_hour(harness, toast_api):
    login = toast_api.post(LOGIN).mock(side_effect=[_token("jwt-1"), _token("jwt-2"), _token("jwt-3")])
    toast_api.get(f"/orders/v2/orders/{ORDER}").mock(side_effect=[
        httpx.Response(401), httpx.Response(200, json=_order_with_guest({"guid": "g", "email": "alice@example.com"})),
        httpx.Response(401)])
    connection = api_connection(harness)
    post(harness, connection, "order_updated.paid", mutate=_without_customer("e1"))
    harness.drain()
    assert len(harness.ledger()) == 1 and login.call_count == 2
    post(harness, api_connection(harness, name="second"), "order_updated.paid", mutate=_without_customer("e2"))
    harness.drain()
    event = harness.events()[-1]
    assert event.status == "received" and "2 token requests an hour" in event.reason
    assert login.call_count == 2


def test_429_retry_after_is_honoured_and_the_event_retried(harness, toast_api):
    toast_api.post(LOGIN).mock(return_value=_token())
    order = toast_api.get(f"/orders/v2/orders/{ORDER}").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "120"}),
        httpx.Response(200, json=_order_with_guest({"guid": "g", "email": "alice@example.com"}))])
    connection = api_connection(harness)
    post(harness, connection, "order_updated.paid", mutate=_without_customer("e1"))
    harness.drain()
    [event] = harness.events()
    assert event.status == "received" and "429" in event.reason and "120" in event.reason
    harness.make_due()
    harness.sweep_and_drain()
    assert order.call_count == 1  # still inside Retry-After: Toast is not asked again
    assert "wait" in harness.events()[0].reason
    api.SESSION.clock.now += 121
    harness.make_due()
    harness.sweep_and_drain()
    assert order.call_count == 2 and len(harness.ledger()) == 1


def test_enrich_raises_enrichment_unavailable_on_429():
    context = ConnectionContext(id="c", vendor="toast", vendor_token="a:b", currency="USD",
                                settings={"api_base_url": TOAST_API})
    with respx.mock(base_url=TOAST_API) as mock:
        mock.post(LOGIN).mock(return_value=_token())
        mock.get(f"/orders/v2/orders/{ORDER}").mock(return_value=httpx.Response(429, headers={"Retry-After": "7"}))
        with api.ToastApi(context) as client, pytest.raises(EnrichmentUnavailable, match="Retry-After 7"):
            client.order(RESTAURANT, ORDER)


def test_toast_down_retries_the_event_later(harness, toast_api):
    toast_api.post(LOGIN).mock(return_value=_token())
    toast_api.get(f"/orders/v2/orders/{ORDER}").mock(side_effect=[
        httpx.Response(503), httpx.Response(200, json=_order_with_guest({"guid": "g", "email": "alice@example.com"}))])
    connection = api_connection(harness)
    post(harness, connection, "order_updated.paid", mutate=_without_customer("e1"))
    harness.drain()
    assert harness.events()[0].status == "received"
    harness.make_due()
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1


def test_an_order_toast_has_no_more_leaves_the_sale_unmatched(harness, toast_api):
    toast_api.post(LOGIN).mock(return_value=_token())
    toast_api.get(f"/orders/v2/orders/{ORDER}").mock(return_value=httpx.Response(404))
    connection = api_connection(harness)
    post(harness, connection, "order_updated.paid", mutate=_without_customer("e1"))
    harness.drain()
    assert harness.transactions()[0].status == "unmatched"


def test_a_check_voided_since_the_event_is_not_awarded(harness, toast_api):
    toast_api.post(LOGIN).mock(return_value=_token())
    toast_api.get(f"/orders/v2/orders/{ORDER}").mock(return_value=httpx.Response(
        200, json=_order_with_guest({"guid": "g", "email": "alice@example.com"}, voided=True)))
    connection = api_connection(harness)
    post(harness, connection, "order_updated.paid", mutate=_without_customer("e1"))
    harness.drain()
    [event] = harness.events()
    assert event.status == "skipped" and "voided" in event.reason
    assert harness.ledger() == []


def test_currency_comes_from_the_restaurants_api_once(harness, toast_api):
    toast_api.post(LOGIN).mock(return_value=_token())
    restaurant = toast_api.get(f"/restaurants/v1/restaurants/{RESTAURANT}").mock(return_value=httpx.Response(
        200, json={"guid": RESTAURANT, "general": {"name": "Harbour Diner", "currencyCode": "AUD"},
                   "location": {"country": "AU", "phoneCountryCode": "61"}}))
    connection = api_connection(harness, currency=None, country=None, target="xtarly")
    post(harness, connection, "order_updated.paid")
    post(harness, connection, "order_updated.refund-full")
    harness.drain()
    assert [(tx.currency, tx.amount_minor) for tx in harness.transactions()] == [
        ("AUD", 3485), ("AUD", 3485), ("AUD", 3485)]
    assert restaurant.call_count == 1
    assert len(harness.ledger()) == 2


def test_phone_without_country_uses_the_restaurants_country(harness, toast_api):
    toast_api.post(LOGIN).mock(return_value=_token())
    toast_api.get(f"/restaurants/v1/restaurants/{RESTAURANT}").mock(return_value=httpx.Response(
        200, json={"general": {"currencyCode": "AUD"}, "location": {"country": "AU"}}))
    toast_api.get(f"/orders/v2/orders/{ORDER}").mock(return_value=httpx.Response(
        200, json=_order_with_guest({"guid": "g", "phone": "0412 345 678"})))
    connection = api_connection(harness, country=None)
    post(harness, connection, "order_updated.paid", mutate=_without_customer("e1"))
    harness.drain()
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_alice"
    assert harness.transactions()[0].customer_phone == "+61412345678"
