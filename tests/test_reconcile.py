"""`bridge reconcile` as a person or a script uses it: the JSON object, clear
refusals, dry runs, --all, and a backfill (600 sales in CI, 2,000 with
BACKFILL_N=2000 as scripts/faults runs it) (Lightspeed X-Series
behind its respx fake; the stored events are then worked off by the real
sweeper and worker code, as a running bridge would)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
import respx
from click.testing import CliRunner
from sqlalchemy import select

from bridge.cli import main
from bridge.store.tables import AttemptRow
from connectors.lightspeed.tests.fake_api import API, TOKEN, FakeLightspeed
from tests.support import PUBLIC_URL

BACKFILL_N = int(os.environ.get("BACKFILL_N", "600"))
FIELDS = {"connection_id", "since", "until", "seen", "known", "new", "skipped", "errors"}


@pytest.fixture
def fake():
    with respx.mock(assert_all_called=False) as mock:
        yield FakeLightspeed(mock)


@pytest.fixture
def cli(harness, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", harness.config.database_url)
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.delenv("REDIS_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0, stdin: str | None = None):
        result = runner.invoke(main, ["reconcile", *args], catch_exceptions=False, input=stdin)
        assert result.exit_code == expect, result.output + result.stderr
        assert "Traceback" not in result.output + result.stderr
        return result
    return invoke


def lightspeed(harness, **kwargs):
    kwargs.setdefault("vendor_token", TOKEN)
    return harness.add_connection(vendor="lightspeed", signing_keys=("client-secret",), currency="NZD",
                                  country="NZ", settings={"api_base_url": API}, **kwargs)


def test_json_is_the_documented_object_and_a_rerun_finds_nothing_new(harness, fake, cli):
    connection = lightspeed(harness)
    fake.add_sale(at="2026-11-30T09:00:00Z")
    fake.add_sale(status="SAVED", at="2026-11-30T09:05:00Z")
    args = ("--connection", connection.id, "--since", "2026-11-30", "--until", "2026-12-01T00:00:00Z", "--json")
    first = json.loads(cli(*args).stdout)
    assert FIELDS <= set(first)
    assert (first["since"], first["until"]) == ("2026-11-30T00:00:00+00:00", "2026-12-01T00:00:00+00:00")
    assert {k: first[k] for k in ("seen", "known", "new", "skipped", "errors")} == {
        "seen": 2, "known": 0, "new": 1, "skipped": 1, "errors": 0}
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1
    again = json.loads(cli(*args).stdout)
    assert (again["new"], again["known"]) == (0, 1)
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1


def test_dry_run_counts_and_stores_nothing(harness, fake, cli):
    connection = lightspeed(harness)
    fake.add_sale(at=datetime.now(timezone.utc).isoformat())
    result = json.loads(cli("--connection", connection.id, "--since", "1h", "--dry-run", "--json").stdout)
    assert result["new"] == 1
    assert harness.events() == []


def test_all_reconciles_every_connection_with_credentials_as_a_list(harness, fake, cli):
    first, second = lightspeed(harness, name="One"), lightspeed(harness, name="Two")
    harness.add_connection(vendor="generic", signing_keys=())  # nothing to list sales from: not included
    fake.add_sale(at=datetime.now(timezone.utc).isoformat())
    results = json.loads(cli("--all", "--since", "2h", "--json").stdout)
    assert [r["connection_id"] for r in results] == [first.id, second.id]
    assert [r["new"] for r in results] == [1, 1]  # one fake store behind two connections


@pytest.mark.parametrize("make, args, message", [
    (None, ("--connection", "con_nope"), "no connection 'con_nope'"),
    ("generic", (), "no vendor API to list sales from"),
    ("no-token", (), "has no Lightspeed X-Series API token"),
    ("lightspeed", ("--since", "last tuesday"), "--since must be an ISO 8601 time"),
    ("lightspeed", ("--since", "2026-12-02", "--until", "2026-12-01"), "must be before --until"),
])
def test_refusals_are_one_clear_line(harness, cli, make, args, message):
    if make == "generic":
        connection = harness.add_connection(vendor="generic", signing_keys=())
    elif make == "no-token":
        connection = lightspeed(harness, vendor_token=None)
    elif make == "lightspeed":
        connection = lightspeed(harness)
    result = cli(*(args if make is None else ("--connection", connection.id, *args)), expect=2)
    assert message in result.stderr


def test_neither_connection_nor_all_is_a_usage_error(cli):
    assert "give --connection ID or --all" in cli(expect=2).output


def test_a_backfill_awards_each_sale_once_with_its_original_date(harness, fake, cli):
    connection = lightspeed(harness)
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    dates = [start + timedelta(minutes=17 * n) for n in range(BACKFILL_N)]  # 2,000: 1 Oct to 24 Oct
    for when in dates:
        fake.add_sale(at=when.isoformat())
    result = cli("--connection", connection.id, "--since", "2026-10-01", "--json")
    summary = json.loads(result.stdout)
    assert (summary["seen"], summary["new"], summary["known"], summary["errors"]) == (BACKFILL_N, BACKFILL_N, 0, 0)
    assert f"seen {BACKFILL_N}" in result.stderr  # the progress line, on stderr beside the JSON
    while harness.work.sweep()["events"]:  # the sweeper wakes 500 at a time, as a running bridge's does
        harness.drain()
    ledger = harness.ledger()
    assert len(ledger) == BACKFILL_N and len({entry["idempotency_key"] for entry in ledger}) == BACKFILL_N
    with harness.db.session() as session:
        sent = sorted(attempt.request["json"]["metadata"]["occurred_at"]
                      for attempt in session.scalars(select(AttemptRow)))
    assert sent == [when.isoformat().replace("+00:00", "Z") for when in dates]
    again = json.loads(cli("--connection", connection.id, "--since", "2026-10-01", "--json").stdout)
    assert (again["new"], again["known"]) == (0, BACKFILL_N)


def test_a_large_window_asks_before_importing_on_a_terminal(harness, fake, cli, monkeypatch):
    connection = lightspeed(harness)
    for n in range(301):
        fake.add_sale(at=(datetime(2026, 10, 1, tzinfo=timezone.utc) + timedelta(minutes=n)).isoformat())
    monkeypatch.setattr("bridge.cli.reconcile.interactive", lambda: True)
    refused = cli("--connection", connection.id, "--since", "2026-10-01", stdin="n\n", expect=1)
    assert "301 sales in the window are not known yet" in refused.output
    assert harness.events() == []
    cli("--connection", connection.id, "--since", "2026-10-01", "--yes")
    assert len(harness.events()) == 301


@pytest.mark.parametrize("value, message", [("5s", "at least 30s"), ("soon", "not a duration")])
def test_reconcile_every_is_checked_when_set(harness, monkeypatch, value, message):
    connection = lightspeed(harness)
    monkeypatch.setenv("DATABASE_URL", harness.config.database_url)
    result = CliRunner().invoke(main, ["connections", "set", connection.id, f"reconcile_every={value}"])
    assert result.exit_code == 2 and message in result.stderr


def test_the_sweep_wakes_a_due_connection_once_and_never_one_turned_off(tmp_path, fake):
    from tests.support import Harness

    harness = Harness(f"sqlite:///{tmp_path / 'sweep.db'}", scheduled_reconcile=True)
    try:
        due = lightspeed(harness, name="every 15m")
        harness.add_connection(vendor="lightspeed", name="off", signing_keys=("s",), vendor_token=TOKEN,
                               currency="NZD", settings={"api_base_url": API, "reconcile_every": "0"})
        harness.add_connection(vendor="lightspeed", name="no token", signing_keys=("s",), currency="NZD")
        harness.work.sweep()
        assert [job for job in harness.dispatcher.jobs if job[0] == "reconcile"] == [("reconcile", due.id)]
        harness.work.sweep()  # woken a moment ago: not again
        assert len([job for job in harness.dispatcher.jobs if job[0] == "reconcile"]) == 1
        fake.add_sale(at=datetime.now(timezone.utc).isoformat())
        harness.drain()
        assert len(harness.ledger()) == 1
        harness.work.sweep()  # the run just done is not due for 15 minutes
        assert not [job for job in harness.dispatcher.jobs if job[0] == "reconcile"]
    finally:
        harness.close()


def test_a_reconciled_event_is_listed_shown_and_replayed_like_a_webhooks(harness, fake, cli, monkeypatch):
    from bridge import replay

    connection = lightspeed(harness)
    sale = fake.add_sale(at=datetime.now(timezone.utc).isoformat())
    cli("--connection", connection.id, "--since", "1h")
    harness.sweep_and_drain()
    runner = CliRunner()
    [listed] = json.loads(runner.invoke(main, ["events", "list", "--json"]).stdout)
    assert (listed["source"], listed["status"], listed["vendor_event_id"]) == (
        "reconcile", "delivered", f"api:{sale['id']}:{sale['version']}")
    shown = json.loads(runner.invoke(main, ["events", "show", str(listed["id"]), "--json"]).stdout)
    assert shown["source"] == "reconcile" and json.loads(shown["request"]["body"]["text"])["id"] == sale["id"]
    assert replay.request_replay(harness.db, [listed["id"]], "test") == [listed["id"]]
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1  # the same idempotency key: delivered once
