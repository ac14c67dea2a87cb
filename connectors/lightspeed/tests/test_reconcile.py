"""Lightspeed X-Series reconciliation against a fake of the retailer's API
(respx): sales no webhook brought are awarded once, whichever comes first."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import httpx
import pytest
import respx
from sqlalchemy import select, update

from bridge import connections
from bridge.contract import ReconcileWindow
from bridge.errors import ReconcileUnavailable
from bridge.reconcile import Reconciler
from bridge.store.tables import AttemptRow, ConnectionRow, ReconcileRunRow
from connectors.lightspeed import reconcile as lightspeed_reconcile
from connectors.lightspeed.tests.fake_api import API, TOKEN, WALKIN_ID, FakeLightspeed
from tests.support import PUBLIC_URL

KEY = "test-signature-key"
WINDOW = ReconcileWindow(datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2026, 12, 2, tzinfo=timezone.utc))


@pytest.fixture
def fake():
    with respx.mock(assert_all_called=False) as mock:
        yield FakeLightspeed(mock)


def connect(harness, name="Test shop", **settings):
    return harness.add_connection(vendor="lightspeed", name=name, signing_keys=(KEY,), vendor_token=TOKEN,
                                  currency="NZD", country="NZ", settings={"api_base_url": API, **settings})


def just_now() -> str:
    """A sale made now: inside a scheduled run's first window (since the connection was made)."""
    return datetime.now(timezone.utc).isoformat()


class Sleeps(list):
    """Records the waits a run asks for instead of waiting (pacing, backoff)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def reconcile(harness, connection, window=WINDOW, sleeps=None, **kwargs):
    reconciler = Reconciler(harness.db, harness.dispatcher, PUBLIC_URL, sleep=sleeps if sleeps is not None else Sleeps())
    result = reconciler.run(connection.id, window, **kwargs)
    harness.drain()
    return result


def post_webhook(harness, connection, sale):
    body = urlencode({"payload": json.dumps(sale)}).encode()
    response = harness.post(connection.id, body, vendor="lightspeed", signing_key=KEY)
    assert response.status_code in (200, 202), response.get_json()
    harness.drain()


def counts(result):
    return {name: value for name, value in result.as_dict().items()
            if name in ("seen", "known", "new", "skipped", "errors")}


def test_a_missed_sale_is_awarded_once_and_a_second_run_adds_nothing(harness, fake):
    connection = connect(harness)
    fake.add_sale(total_price=50, total_tax=7.5)
    first = reconcile(harness, connection)
    assert counts(first) == {"seen": 1, "known": 0, "new": 1, "skipped": 0, "errors": 0}
    [award] = harness.ledger()
    assert (award["customer_id"], award["amount"]) == ("cus_alice", 5750)
    [event] = harness.events()
    assert (event.source, event.status, event.content_type) == ("reconcile", "delivered", "application/json")
    assert json.loads(event.body)["id"] in fake.sales  # the API's own JSON for the sale, kept for replay
    again = reconcile(harness, connection)
    assert counts(again) == {"seen": 1, "known": 1, "new": 0, "skipped": 0, "errors": 0}
    assert len(harness.ledger()) == 1 and len(harness.events()) == 1


def test_a_webhook_arriving_after_reconciliation_awards_nothing_more(harness, fake):
    connection = connect(harness)
    sale = fake.add_sale()
    reconcile(harness, connection)
    post_webhook(harness, connection, sale)
    assert len(harness.ledger()) == 1
    webhook = harness.events()[-1]
    assert (webhook.source, webhook.status) == ("webhook", "delivered")
    assert len(harness.transactions()) == 1  # one sale, one idempotency key, from either source


def test_a_webhook_first_then_reconciliation_awards_nothing_more(harness, fake):
    connection = connect(harness)
    sale = fake.add_sale()
    post_webhook(harness, connection, sale)
    assert len(harness.ledger()) == 1
    result = reconcile(harness, connection)
    assert counts(result) == {"seen": 1, "known": 1, "new": 0, "skipped": 0, "errors": 0}
    assert len(harness.ledger()) == 1 and len(harness.events()) == 1


@pytest.mark.parametrize("status", ["SAVED", "OPEN", "LAYBY", "ONACCOUNT"])
def test_unfinished_sales_are_skipped_as_the_webhook_path_skips_them(harness, fake, status):
    connection = connect(harness)
    sale = fake.add_sale(status=status)
    result = reconcile(harness, connection)
    assert counts(result)["skipped"] == 1 and counts(result)["new"] == 0
    post_webhook(harness, connection, sale)  # the same sale by webhook: skipped as well
    assert [event.status for event in harness.events()] == ["skipped"]
    assert harness.ledger() == []


def test_a_walk_in_sale_ends_unmatched_as_its_webhook_does(harness, fake):
    by_webhook, by_reconcile = connect(harness, name="by webhook"), connect(harness, name="by reconcile")
    sale = fake.add_sale(customer_id=WALKIN_ID)
    post_webhook(harness, by_webhook, sale)
    reconcile(harness, by_reconcile)
    webhook_tx, reconciled_tx = harness.transactions()
    assert webhook_tx.status == reconciled_tx.status == "unmatched"  # the walk-in customer is nobody
    assert (webhook_tx.kind, webhook_tx.amount_minor) == (reconciled_tx.kind, reconciled_tx.amount_minor)
    assert harness.ledger() == []


def test_a_sale_voided_before_it_was_awarded_awards_nothing_from_either_path(harness, fake):
    by_webhook, by_reconcile = connect(harness, name="by webhook"), connect(harness, name="by reconcile")
    sale = fake.add_sale(status="VOIDED")
    post_webhook(harness, by_webhook, sale)
    reconcile(harness, by_reconcile)
    # The webhook's re-fetch finds no completed sale (GET /sales/{id} serves only
    # those); the listed sale is read as a void, recorded and not sent.
    assert [event.status for event in harness.events()] == ["skipped", "skipped"]
    assert [tx.kind for tx in harness.transactions()] == ["void"]
    assert harness.ledger() == []


def test_paging_follows_the_versions_to_the_end(harness, fake, monkeypatch):
    monkeypatch.setattr(lightspeed_reconcile, "PAGE_SIZE", 5)
    connection = connect(harness)
    for _ in range(12):
        fake.add_sale()
    result = reconcile(harness, connection)
    assert counts(result)["new"] == 12
    assert [call["after"] for call in fake.list_calls] == [0, 7_000_005, 7_000_010, 7_000_012]
    assert len(harness.ledger()) == 12


def test_an_inclusive_after_reads_the_same_and_ends(harness, monkeypatch):
    monkeypatch.setattr(lightspeed_reconcile, "PAGE_SIZE", 5)
    with respx.mock(assert_all_called=False) as mock:
        fake = FakeLightspeed(mock, inclusive_after=True)
        connection = connect(harness)
        for _ in range(7):
            fake.add_sale()
        result = reconcile(harness, connection)
    assert counts(result) == {"seen": 7, "known": 0, "new": 7, "skipped": 0, "errors": 0}
    assert len(harness.ledger()) == 7


def test_a_window_across_midnight_in_the_stores_time_zone(harness, fake):
    connection = connect(harness)
    auckland = timezone(timedelta(hours=13))  # NZDT, the store's zone in December
    fake.add_sale(at="2026-12-01 10:50:00")  # 23:50 local: Lightspeed's zone-less form is UTC
    fake.add_sale(at="2026-12-01T11:10:00Z")  # 00:10 local, the next day
    fake.add_sale(at="2026-12-01T11:40:00+00:00")  # 00:40 local: after the window
    window = ReconcileWindow(datetime(2026, 12, 1, 23, 30, tzinfo=auckland), datetime(2026, 12, 2, 0, 30, tzinfo=auckland))
    result = reconcile(harness, connection, window)
    assert counts(result)["new"] == 2
    assert sorted(tx.occurred_at.isoformat() for tx in harness.transactions()) == [
        "2026-12-01T10:50:00+00:00", "2026-12-01T11:10:00+00:00"]


def test_a_refused_token_stops_the_connections_runs_until_it_is_rotated(harness, fake):
    connection = connect(harness)
    fake.add_sale()
    fake.failures.append(httpx.Response(401, json={"error": "invalid token"}))
    result = reconcile(harness, connection)
    assert result.status == "stopped" and "refused the connection's API token (401)" in result.reason
    assert counts(result)["errors"] == 1
    with harness.db.session() as session:
        view = connections.describe(harness.db, session.get(ConnectionRow, connection.id), PUBLIC_URL)
    assert view["vendor_token_rejected_at"] and "401" in view["vendor_token_rejection"]
    with pytest.raises(ReconcileUnavailable, match="rotate-key"):
        reconcile(harness, connection)
    connections.rotate(harness.db, connection.id, vendor_token=TOKEN)
    assert counts(reconcile(harness, connection))["new"] == 1
    assert len(harness.ledger()) == 1


def test_a_429_waits_as_long_as_retry_after_says_and_goes_on(harness, fake):
    connection = connect(harness)
    fake.add_sale()
    fake.failures.append(httpx.Response(429, headers={"Retry-After": "7"}))
    sleeps = Sleeps()
    result = reconcile(harness, connection, sleeps=sleeps)
    assert result.status == "finished" and counts(result)["errors"] == 1 and counts(result)["new"] == 1
    assert 7 in sleeps
    assert len(harness.ledger()) == 1


@pytest.mark.parametrize("failure", [httpx.Response(500), httpx.ReadTimeout("slow")], ids=["500", "timeout"])
def test_5xx_and_timeouts_are_retried_with_backoff_and_counted(harness, fake, failure):
    connection = connect(harness)
    fake.add_sale()
    fake.failures.extend([failure, failure])
    sleeps = Sleeps()
    result = reconcile(harness, connection, sleeps=sleeps)
    assert result.status == "finished" and counts(result)["errors"] == 2 and counts(result)["new"] == 1
    assert [wait for wait in sleeps if wait >= 1][:2] == [1.0, 2.0]  # backoff grows (pacing waits are < 1 s)


def test_an_api_down_for_the_whole_run_stops_it_and_the_next_run_resumes(harness, fake, monkeypatch):
    monkeypatch.setattr(lightspeed_reconcile, "PAGE_SIZE", 2)
    connection = connect(harness)
    for _ in range(4):
        fake.add_sale(at=just_now())
    reconciler = Reconciler(harness.db, harness.dispatcher, PUBLIC_URL, sleep=Sleeps())
    every = timedelta(minutes=15)
    first_call = fake.list_route.side_effect

    def down_after_the_first_page(request):
        if fake.list_calls:
            return httpx.Response(503)
        return first_call(request)

    fake.list_route.side_effect = down_after_the_first_page
    stopped = reconciler.run_scheduled(connection.id, every)
    harness.drain()
    assert stopped.status == "stopped" and counts(stopped)["new"] == 2 and counts(stopped)["errors"] == 5
    fake.list_route.side_effect = first_call
    resumed = reconciler.run_scheduled(connection.id, every)
    harness.drain()
    assert resumed.run_id == stopped.run_id and resumed.status == "finished"
    assert fake.list_calls[1]["after"] == 7_000_002  # from the cursor, not from the start
    assert counts(resumed)["new"] == 4 and len(harness.ledger()) == 4


def test_a_run_killed_half_way_resumes_from_its_cursor_without_a_double_award(harness, fake, monkeypatch):
    monkeypatch.setattr(lightspeed_reconcile, "PAGE_SIZE", 3)
    connection = connect(harness)
    for _ in range(7):
        fake.add_sale(at=just_now())
    healthy = fake.list_route.side_effect

    def killed_on_the_second_page(request):
        if fake.list_calls:
            raise SystemExit("the worker was killed")  # not an API error: nothing catches it
        return healthy(request)

    fake.list_route.side_effect = killed_on_the_second_page
    reconciler = Reconciler(harness.db, harness.dispatcher, PUBLIC_URL, sleep=Sleeps())
    with pytest.raises(SystemExit):
        reconciler.run_scheduled(connection.id, timedelta(minutes=15))
    harness.drain()
    assert len(harness.ledger()) == 3
    with harness.db.session() as session:
        run = session.scalar(select(ReconcileRunRow))
        assert (run.status, run.cursor) == ("running", "7000003")
        # A killed process does not release its lease; it expires.
        session.execute(update(ConnectionRow).values(reconcile_lease_until=datetime.now(timezone.utc)))
    fake.list_route.side_effect = healthy
    calls_before = len(fake.list_calls)
    resumed = reconciler.run_scheduled(connection.id, timedelta(minutes=15))
    harness.drain()
    assert resumed.status == "finished" and fake.list_calls[calls_before]["after"] == 7_000_003
    assert len(harness.ledger()) == 7
    assert len({entry["idempotency_key"] for entry in harness.ledger()}) == 7


def test_the_next_scheduled_run_carries_the_version_cursor_over(harness, fake):
    connection = connect(harness)
    fake.add_sale(at=just_now())
    reconciler = Reconciler(harness.db, harness.dispatcher, PUBLIC_URL, sleep=Sleeps())
    first = reconciler.run_scheduled(connection.id, timedelta(minutes=15))
    assert counts(first)["new"] == 1
    assert reconciler.run_scheduled(connection.id, timedelta(minutes=15)) is None  # not due yet
    with harness.db.session() as session:
        session.execute(update(ReconcileRunRow).values(
            started_at=datetime.now(timezone.utc) - timedelta(minutes=16)))
    fake.add_sale(at=just_now())
    second = reconciler.run_scheduled(connection.id, timedelta(minutes=15))
    harness.drain()
    assert counts(second) == {"seen": 1, "known": 0, "new": 1, "skipped": 0, "errors": 0}
    assert fake.list_calls[-2]["after"] == 7_000_001
    assert second.window.since < first.window.until  # the windows overlap


@pytest.mark.parametrize("target, where", [("xtarly", ("metadata", "occurred_at")),
                                           ("cockato", ("transaction_date",))])
def test_original_sale_dates_reach_the_core(harness, fake, target, where):
    connection = harness.add_connection(vendor="lightspeed", target=target, signing_keys=(KEY,), vendor_token=TOKEN,
                                        currency="AUD", country="AU", settings={"api_base_url": API})
    fake.add_sale(at="2026-11-03T08:15:00+00:00")
    reconcile(harness, connection, ReconcileWindow(datetime(2026, 11, 1, tzinfo=timezone.utc),
                                                  datetime(2026, 12, 1, tzinfo=timezone.utc)))
    with harness.db.session() as session:
        [attempt] = session.scalars(select(AttemptRow)).all()
    sent = attempt.request["json"]
    for name in where:
        sent = sent[name]
    assert (attempt.outcome, sent) == ("delivered", "2026-11-03T08:15:00Z")


def test_the_dashboard_shows_what_the_last_run_found_and_a_refused_token(harness, fake):
    connection = connect(harness)
    fake.add_sale()
    fake.add_sale()
    reconcile(harness, connection)
    page = harness.client.get("/admin/connections").get_data(as_text=True)
    assert "Found 2 missed sales on" in page
    fake.failures.append(httpx.Response(403))
    reconcile(harness, connection)
    page = harness.client.get("/admin/connections").get_data(as_text=True)
    assert "The vendor refused the API token on" in page and "refused the connection&#39;s API token (403)" in page


def test_connections_check_shows_the_refused_token_until_it_is_rotated(harness, fake):
    from bridge.golive.check import run_check

    connection = connect(harness)
    fake.failures.append(httpx.Response(401))
    reconcile(harness, connection)
    report = run_check(harness.db, harness.config, connection.id, http=harness.http)
    [vendor] = [item for item in report["checks"] if item["name"] == "vendor_api"]
    assert not vendor["ok"] and "refused the API token on" in vendor["detail"] and "--vendor-token" in vendor["fix"]
    connections.rotate(harness.db, connection.id, vendor_token=TOKEN)
    report = run_check(harness.db, harness.config, connection.id, http=harness.http)
    [vendor] = [item for item in report["checks"] if item["name"] == "vendor_api"]
    assert "refused the API token on" not in vendor["detail"]  # asked live again (the fake has no /retailer)
