"""Square reconciliation through the squareup SDK's Payments list, its httpx
calls intercepted by respx: payments no webhook brought award once."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx

from bridge.contract import ReconcileWindow
from bridge.reconcile import Reconciler
from connectors.square import reconcile as square_reconcile
from tests.support import PUBLIC_URL, fixture_bytes

API = "https://square-fake.test"
TOKEN = "EAAA-test-token"
KEY = "test-signature-key"
WINDOW = ReconcileWindow(datetime(2026, 11, 28, tzinfo=timezone.utc), datetime(2026, 11, 29, tzinfo=timezone.utc))
COMPLETED = json.loads(fixture_bytes("square", "payment.updated.completed"))["data"]["object"]["payment"]


def payment(status="COMPLETED", updated="2026-11-28T14:02:13.456Z", payment_id=None):
    made = copy.deepcopy(COMPLETED)
    made.update(id=payment_id or uuid.uuid4().hex[:29], status=status, updated_at=updated)
    return made


class FakePayments:
    """GET /v2/payments with Square's cursor paging and the updated_at filters
    (or, `filters=False`, a server that ignores them: the other reading)."""

    def __init__(self, mock, filters: bool) -> None:
        self.payments: list[dict] = []
        self.filters, self.calls, self.failures = filters, [], []
        mock.get(f"{API}/v2/payments").mock(side_effect=self._list)

    def _list(self, request: httpx.Request) -> httpx.Response:
        if self.failures:
            return self.failures.pop(0)
        params = request.url.params
        self.calls.append(dict(params))
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        chosen = sorted(self.payments, key=lambda p: p["updated_at"])
        if self.filters:
            begin, end = params["updated_at_begin_time"], params["updated_at_end_time"]
            chosen = [p for p in chosen if _at(begin) <= _at(p["updated_at"]) < _at(end)]
        start, limit = int(params.get("cursor", "0")), int(params["limit"])
        page = chosen[start:start + limit]
        body = {"payments": page}
        if start + limit < len(chosen):
            body["cursor"] = str(start + limit)
        return httpx.Response(200, json=body)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(params=["filtered", "unfiltered"])
def fake(request):
    with respx.mock(assert_all_called=False) as mock:
        yield FakePayments(mock, filters=request.param == "filtered")


def connect(harness, **settings):
    return harness.add_connection(vendor="square", signing_keys=(KEY,), vendor_token=TOKEN,
                                  settings={"api_base_url": API, **settings})


def reconcile(harness, connection, window=WINDOW):
    result = Reconciler(harness.db, harness.dispatcher, PUBLIC_URL, sleep=lambda s: None).run(connection.id, window)
    harness.drain()
    return result.as_dict()


def test_a_missed_payment_is_awarded_once_and_again_adds_nothing(harness, fake):
    connection = connect(harness)
    fake.payments.append(payment())
    first = reconcile(harness, connection)
    assert (first["seen"], first["new"], first["errors"]) == (1, 1, 0)
    [award] = harness.ledger()
    assert (award["customer_id"], award["amount"]) == ("cus_alice", 1999)  # tips out, as for a webhook
    again = reconcile(harness, connection)
    assert (again["new"], again["known"]) == (0, 1) and len(harness.ledger()) == 1


def test_the_webhook_and_the_reconciliation_award_once_in_either_order(harness, fake):
    webhook_first, reconcile_first = connect(harness), connect(harness)
    fake.payments.append(copy.deepcopy(COMPLETED))
    harness.post_fixture(webhook_first.id, "payment.updated.completed")
    harness.drain()
    assert reconcile(harness, webhook_first)["known"] == 1
    reconcile(harness, reconcile_first)
    harness.post_fixture(reconcile_first.id, "payment.updated.completed")
    harness.drain()
    assert len(harness.ledger()) == 2  # one per connection
    assert {event.status for event in harness.events()} == {"delivered"}


@pytest.mark.parametrize("status", ["APPROVED", "PENDING", "CANCELED", "FAILED"])
def test_unfinished_and_failed_payments_are_skipped_as_their_webhooks_are(harness, fake, status):
    connection = connect(harness)
    fake.payments.append(payment(status=status))
    assert reconcile(harness, connection)["skipped"] == 1
    assert harness.ledger() == [] and harness.events() == []


def test_paging_follows_squares_cursor_to_the_end(harness, fake, monkeypatch):
    monkeypatch.setattr(square_reconcile, "PAGE_SIZE", 3)
    connection = connect(harness)
    fake.payments.extend(payment(updated=f"2026-11-28T10:{n:02d}:00Z") for n in range(8))
    result = reconcile(harness, connection)
    assert (result["seen"], result["new"]) == (8, 8)
    assert [call.get("cursor") for call in fake.calls] == [None, "3", "6"]
    assert {call["sort_field"] for call in fake.calls} == {"UPDATED_AT"}
    assert len(harness.ledger()) == 8


def test_a_window_across_the_sellers_midnight_and_outside_it(harness, fake):
    connection = connect(harness)
    new_york = timezone(timedelta(hours=-5))
    fake.payments.append(payment(updated="2026-11-28T04:50:00Z"))  # 23:50 in New York
    fake.payments.append(payment(updated="2026-11-28T05:10:00Z"))  # 00:10 the next day
    fake.payments.append(payment(updated="2026-11-28T05:40:00Z"))  # after the window
    window = ReconcileWindow(datetime(2026, 11, 27, 23, 30, tzinfo=new_york), datetime(2026, 11, 28, 0, 30, tzinfo=new_york))
    assert reconcile(harness, connection, window)["new"] == 2
    assert (fake.calls[0]["updated_at_begin_time"], fake.calls[0]["updated_at_end_time"]) == (
        "2026-11-28T04:30:00Z", "2026-11-28T05:30:00Z")


def test_a_refused_token_stops_the_runs(harness, fake):
    connection = connect(harness)
    fake.failures.append(httpx.Response(401, json={"errors": [{"category": "AUTHENTICATION_ERROR",
                                                               "code": "UNAUTHORIZED"}]}))
    result = reconcile(harness, connection)
    assert result["status"] == "stopped" and "refused the connection's API token (401)" in result["reason"]


def test_a_500_then_a_timeout_are_retried_and_counted(harness, fake):
    connection = connect(harness)
    fake.payments.append(payment())
    fake.failures.append(httpx.Response(500, json={"errors": [{"code": "INTERNAL_SERVER_ERROR"}]}))
    result = reconcile(harness, connection)
    assert (result["status"], result["errors"], result["new"]) == ("finished", 1, 1)


def test_sandbox_environment_goes_to_squares_sandbox(harness):
    connection = harness.add_connection(vendor="square", signing_keys=(KEY,), vendor_token=TOKEN,
                                        settings={"environment": "sandbox"})
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get("https://connect.squareupsandbox.com/v2/payments").mock(
            return_value=httpx.Response(200, json={"payments": []}))
        assert reconcile(harness, connection)["status"] == "finished"
    assert route.call_count == 1
