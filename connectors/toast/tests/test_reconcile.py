"""Toast reconciliation against a fake of `ordersBulk` (respx, the httpx calls
really intercepted): orders no webhook brought are awarded once."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx

from bridge.contract import ReconcileWindow
from bridge.errors import ReconcileUnavailable
from bridge.reconcile import Reconciler
from connectors.toast import reconcile as toast_reconcile
from connectors.toast.tests.helpers import RESTAURANT, TOAST_API, connect, post
from tests.support import PUBLIC_URL, fixture_bytes

LOGIN = "/authentication/v1/authentication/login"
WINDOW = ReconcileWindow(datetime(2026, 3, 28, tzinfo=timezone.utc), datetime(2026, 3, 29, tzinfo=timezone.utc))
PAID = json.loads(fixture_bytes("toast", "order_updated.paid"))["details"]["order"]


def order(status="PAID", guid=None, check=None, modified="2026-03-28T19:42:06.912+0000"):
    made = copy.deepcopy(PAID)
    made["guid"] = guid or str(uuid.uuid4())
    made["modifiedDate"] = modified
    made["checks"][0].update(guid=check or str(uuid.uuid4()), paymentStatus=status)
    return made


class FakeOrdersBulk:
    def __init__(self, mock, link_header: bool) -> None:
        self.orders: list[dict] = []
        self.link_header = link_header  # one reading of how the last page shows
        self.failures: list[httpx.Response] = []
        self.calls: list[dict] = []
        mock.post(f"{TOAST_API}{LOGIN}").mock(return_value=httpx.Response(200, json={
            "status": "SUCCESS", "token": {"accessToken": "jwt-1", "expiresIn": 86400}}))
        mock.get(f"{TOAST_API}/orders/v2/ordersBulk").mock(side_effect=self._bulk)

    def _bulk(self, request: httpx.Request) -> httpx.Response:
        if self.failures:
            return self.failures.pop(0)
        params = dict(request.url.params)
        self.calls.append(params)
        assert request.headers["toast-restaurant-external-id"] == RESTAURANT
        assert request.headers["authorization"] == "Bearer jwt-1"
        start, end = (datetime.strptime(params[name], "%Y-%m-%dT%H:%M:%S.%f%z") for name in ("startDate", "endDate"))
        page, size = int(params["page"]), int(params["pageSize"])
        chosen = [o for o in self.orders
                  if start <= datetime.strptime(o["modifiedDate"], "%Y-%m-%dT%H:%M:%S.%f%z") < end]
        listed = chosen[(page - 1) * size: page * size]
        headers = {}
        if self.link_header:
            headers["link"] = f'<{request.url}>; rel="self"' + (
                f', <{request.url}&page={page + 1}>; rel="next"' if page * size < len(chosen) else "")
        return httpx.Response(200, json=listed, headers=headers)


@pytest.fixture(params=["link-header", "short-page"])
def fake(request):
    with respx.mock(assert_all_called=False) as mock:
        yield FakeOrdersBulk(mock, link_header=request.param == "link-header")


def api_connection(harness, **settings):
    return connect(harness, vendor_token="client-id:client-secret",
                   settings={"api_base_url": TOAST_API, "restaurants": RESTAURANT, **settings})


def reconcile(harness, connection, window=WINDOW):
    result = Reconciler(harness.db, harness.dispatcher, PUBLIC_URL, sleep=lambda seconds: None).run(connection.id, window)
    harness.drain()
    return result.as_dict()


def test_a_missed_paid_order_is_awarded_once_and_again_adds_nothing(harness, fake):
    connection = api_connection(harness)
    fake.orders.append(order())
    first = reconcile(harness, connection)
    assert (first["seen"], first["new"], first["errors"]) == (1, 1, 0)
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_alice"
    [event] = harness.events()
    assert event.source == "reconcile" and event.headers["toast-restaurant-external-id"] == RESTAURANT
    again = reconcile(harness, connection)
    assert (again["new"], again["known"]) == (0, 1) and len(harness.ledger()) == 1


def test_the_webhook_and_the_reconciliation_award_once_in_either_order(harness, fake):
    webhook_first, reconcile_first = api_connection(harness), api_connection(harness)
    fake.orders.append(copy.deepcopy(PAID))  # the fixture's own order and check
    post(harness, webhook_first, "order_updated.paid")
    harness.drain()
    assert reconcile(harness, webhook_first)["known"] == 1
    reconcile(harness, reconcile_first)
    post(harness, reconcile_first, "order_updated.paid")
    harness.drain()
    assert len(harness.ledger()) == 2  # one for each connection, not four
    assert {event.status for event in harness.events()} == {"delivered"}


@pytest.mark.parametrize("status", ["OPEN"])
def test_an_open_check_is_skipped_as_its_webhook_is(harness, fake, status):
    connection = api_connection(harness)
    fake.orders.append(order(status=status))
    assert reconcile(harness, connection)["skipped"] == 1
    assert harness.ledger() == [] and harness.events() == []


def test_paging_follows_to_the_end_in_either_reading(harness, fake, monkeypatch):
    monkeypatch.setattr(toast_reconcile, "PAGE_SIZE", 4)
    connection = api_connection(harness)
    fake.orders.extend(order() for _ in range(10))
    result = reconcile(harness, connection)
    assert (result["seen"], result["new"]) == (10, 10)
    assert [call["page"] for call in fake.calls] == ["1", "2", "3"]
    assert len(harness.ledger()) == 10


def test_a_window_across_the_restaurants_midnight_is_two_utc_instants(harness, fake):
    connection = api_connection(harness)
    sydney = timezone(timedelta(hours=11))
    fake.orders.append(order(modified="2026-03-28T12:50:00.000+0000"))  # 23:50 in Sydney
    fake.orders.append(order(modified="2026-03-28T13:10:00.000+0000"))  # 00:10 the next day
    fake.orders.append(order(modified="2026-03-28T13:40:00.000+0000"))  # after the window
    window = ReconcileWindow(datetime(2026, 3, 28, 23, 30, tzinfo=sydney), datetime(2026, 3, 29, 0, 30, tzinfo=sydney))
    assert reconcile(harness, connection, window)["new"] == 2
    assert (fake.calls[0]["startDate"], fake.calls[0]["endDate"]) == (
        "2026-03-28T12:30:00.000-0000", "2026-03-28T13:30:00.000-0000")


def test_refused_client_credentials_mark_the_token_rejected(harness, fake):
    connection = api_connection(harness)
    fake.failures.extend([httpx.Response(401), httpx.Response(401)])  # a new token does not help
    result = reconcile(harness, connection)
    assert result["status"] == "stopped" and "refused the connection's API token (401)" in result["reason"]
    with pytest.raises(ReconcileUnavailable, match="rotate"):
        reconcile(harness, connection)


def test_a_429_is_waited_out_and_counted(harness, fake):
    connection = api_connection(harness)
    fake.orders.append(order())
    fake.failures.append(httpx.Response(429, headers={"Retry-After": "2"}))
    result = reconcile(harness, connection)
    assert (result["status"], result["errors"], result["new"]) == ("finished", 1, 1)


def test_without_a_restaurant_list_the_refusal_says_what_to_set(harness, fake):
    connection = connect(harness, vendor_token="client-id:client-secret", settings={"api_base_url": TOAST_API})
    result = reconcile(harness, connection)
    assert result["status"] == "stopped" and "restaurants=GUID" in result["reason"]
