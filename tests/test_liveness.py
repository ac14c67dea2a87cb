"""Connection states (bridge.liveness), the /metrics gauge and the operator's
alert webhook (bridge.alerts), through the real app and the real sweeper.

Time passes by moving stored timestamps back (as `make_due` does for
retries), never by sleeping. The alert webhook is a real HTTP server on a
loopback port.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bridge import connections, liveness
from bridge.cli import main
from bridge.errors import ConfigError
from bridge.store.tables import EventRow, RejectionCountRow, utcnow
from tests.support import Harness

SALE = "payment.updated.completed"


def _view(h: Harness, connection_id: str) -> dict:
    with h.db.session() as session:
        row = connections.get(session, connection_id)
    return connections.describe(h.db, row, h.config.public_url)


def _state(h: Harness, connection_id: str) -> str:
    return _view(h, connection_id)["state"]


def _sale(h: Harness, connection_id: str, event_id: str, **kwargs):
    def rename(document):
        document["event_id"] = event_id

    return h.post_fixture(connection_id, SALE, mutate=rename, **kwargs)


def _age_events(h: Harness, connection_id: str, by: timedelta) -> None:
    with h.db.session() as session:
        for event in session.scalars(select(EventRow).where(EventRow.connection_id == connection_id)):
            event.received_at -= by


def _age_refusals(h: Harness, connection_id: str, by: timedelta) -> None:
    with h.db.session() as session:
        for hour in session.scalars(select(RejectionCountRow).where(RejectionCountRow.connection_id == connection_id)):
            hour.hour, hour.last_at = hour.hour - by, hour.last_at - by


class AlertCatcher:
    """The operator's incoming webhook: records each JSON body; answers
    `fail_next` requests with a 500 first."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.fail_next = 0
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if catcher.fail_next:
                    catcher.fail_next -= 1
                    self.send_response(500)
                else:
                    catcher.bodies.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def states(self) -> list[tuple[str | None, str]]:
        return [(body["previous_state"], body["state"]) for body in self.bodies]

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def catcher():
    server = AlertCatcher()
    yield server
    server.close()


@pytest.fixture
def alerting(tmp_path, catcher):
    h = Harness(f"sqlite:///{tmp_path / 'bridge.db'}", alert_webhook_url=catcher.url, alert_interval_seconds=0)
    yield h
    h.close()


# -- the states ----------------------------------------------------------------
@pytest.fixture(params=["harness", "pg_harness"])
def any_harness(request):
    """SQLite and a real PostgreSQL (the refusal window uses an aggregate FILTER)."""
    return request.getfixturevalue(request.param)


def test_waiting_receiving_rejecting_receiving(any_harness):
    harness = any_harness
    connection = harness.add_connection()
    view = _view(harness, connection.id)
    assert view["state"] == "waiting" and view["last_event_at"] is None
    assert connection.id in view["state_fix"] and view["webhook_url"] in view["state_fix"]

    assert _sale(harness, connection.id, "evt-1").status_code == 202
    view = _view(harness, connection.id)
    assert view["state"] == "receiving" and view["state_fix"] is None
    assert view["last_event_at"] == harness.events()[0].received_at.isoformat()

    assert _sale(harness, connection.id, "evt-2", signing_key="wrong-key").status_code == 401
    view = _view(harness, connection.id)
    assert view["state"] == "rejecting"
    assert "does not match the signing key" in view["state_fix"]
    assert f"bridge connections rejections {connection.id}" in view["state_fix"]

    assert _sale(harness, connection.id, "evt-3").status_code == 202
    assert _state(harness, connection.id) == "receiving"


def test_refusals_before_any_event_are_rejecting_not_waiting(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, SALE, sign=False)
    assert _state(harness, connection.id) == "rejecting"


def test_receiving_quiet_receiving_with_a_short_quiet_after(harness):
    connection = harness.add_connection(settings={"quiet_after": "6h"})
    _sale(harness, connection.id, "evt-1")
    assert _view(harness, connection.id)["quiet_after"] == "6h"
    _age_events(harness, connection.id, timedelta(hours=5))
    assert _state(harness, connection.id) == "receiving"
    _age_events(harness, connection.id, timedelta(hours=2))
    view = _view(harness, connection.id)
    assert view["state"] == "quiet"
    assert "still enabled" in view["state_fix"] and view["webhook_url"] in view["state_fix"]
    _sale(harness, connection.id, "evt-2")
    assert _state(harness, connection.id) == "receiving"


def test_the_default_quiet_after_is_24_hours(harness):
    connection = harness.add_connection()
    _sale(harness, connection.id, "evt-1")
    _age_events(harness, connection.id, timedelta(hours=23))
    assert _state(harness, connection.id) == "receiving"
    _age_events(harness, connection.id, timedelta(hours=2))
    assert _state(harness, connection.id) == "quiet"


def test_a_test_transaction_does_not_make_a_connection_receiving(harness):
    from bridge.golive import run_test

    connection = harness.add_connection()
    assert run_test(harness.db, harness.config, connection.id, "alice@example.com", "1.00",
                    actor="test", http=harness.http)["ok"]
    assert _state(harness, connection.id) == "waiting"


def test_paused_after_the_core_answers_401(harness):
    connection = harness.add_connection(target_key="xtarly_pos_wrong")
    _sale(harness, connection.id, "evt-1")
    harness.drain()
    view = _view(harness, connection.id)
    assert view["status"] == "paused" and view["state"] == "paused"
    assert f"bridge connections rotate-key {connection.id} --target-key KEY" in view["state_fix"]
    connections.rotate(harness.db, connection.id, target_key="xtarly_pos_demo")
    assert _state(harness, connection.id) == "receiving"


def test_disabled(harness):
    connection = harness.add_connection()
    connections.set_status(harness.db, connection.id, "disabled", "test")
    assert _state(harness, connection.id) == "disabled"


def test_the_24_hour_counter_and_window(any_harness):
    harness = any_harness
    connection = harness.add_connection()
    _sale(harness, connection.id, "evt-1")
    _age_events(harness, connection.id, timedelta(hours=30))
    old = (utcnow() - timedelta(hours=26)).replace(minute=0, second=0, microsecond=0)
    with harness.db.session() as session:  # refusals a day and more ago, after the last event
        session.add(RejectionCountRow(connection_id=connection.id, hour=old, count=7, last_at=old))
    view = _view(harness, connection.id)
    assert view["rejected_24h"] == 0
    assert view["state"] == "quiet"  # refused since the last event, but not within the window
    harness.post_fixture(connection.id, SALE, signing_key="wrong-key")
    view = _view(harness, connection.id)
    assert view["rejected_24h"] == 1 and view["state"] == "rejecting"


def test_derive_state_precedence():
    now = utcnow()
    hour = timedelta(hours=1)
    derive = liveness.derive_state
    common = {"quiet_after_seconds": 3600 * 24, "now": now}
    assert derive(status="paused", last_event_at=None, last_rejected_at=now, **common) == "paused"
    assert derive(status="disabled", last_event_at=now, last_rejected_at=None, **common) == "disabled"
    assert derive(status="active", last_event_at=now - hour, last_rejected_at=now, **common) == "rejecting"
    assert derive(status="active", last_event_at=now, last_rejected_at=now - hour, **common) == "receiving"
    assert derive(status="active", last_event_at=now - 30 * hour, last_rejected_at=now, **common) == "rejecting"


def test_quiet_after_is_a_duration(harness):
    with pytest.raises(ConfigError, match="not a duration"):
        harness.add_connection(settings={"quiet_after": "soon"})
    with pytest.raises(ConfigError, match="longer than 0"):
        harness.add_connection(settings={"quiet_after": "0s"})
    connection = harness.add_connection()
    connections.set_settings(harness.db, connection.id, {"quiet_after": "6h"})
    assert _view(harness, connection.id)["quiet_after"] == "6h"


def test_the_state_in_list_json_the_api_and_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "https://bridge.example.com")
    runner = CliRunner()
    made = runner.invoke(main, ["connections", "add", "--vendor", "square", "--name", "Cafe", "--target", "xtarly",
                                "--target-url", "http://127.0.0.1:9/xtarly", "--target-key", "k",
                                "--signing-key", "s", "--set", "quiet_after=6h", "--json"])
    assert made.exit_code == 0, made.output
    [listed] = json.loads(runner.invoke(main, ["connections", "list", "--json"]).output)
    assert listed["state"] == "waiting" and listed["last_event_at"] is None and listed["quiet_after"] == "6h"
    assert {"rejected_24h", "last_rejection", "status", "webhook_url"} <= set(listed)
    table = runner.invoke(main, ["connections", "list"]).output
    assert "waiting" in table and "never" in table


def test_the_api_shows_the_state(harness):
    connection = harness.add_connection()
    _sale(harness, connection.id, "evt-1")
    shown = harness.client.get(f"/api/connections/{connection.id}").get_json()
    assert shown["state"] == "receiving" and shown["last_event_at"]
    [listed] = harness.client.get("/api/connections").get_json()["connections"]
    assert listed["state"] == "receiving"


# -- /metrics ------------------------------------------------------------------
def test_metrics_gauge_the_age_of_the_last_event(harness):
    waiting = harness.add_connection(name="Waiting")
    receiving = harness.add_connection(name="Receiving")
    _sale(harness, receiving.id, "evt-1")
    _age_events(harness, receiving.id, timedelta(hours=2))
    text = harness.client.get("/metrics").get_data(as_text=True)
    assert "# TYPE bridge_connection_last_event_age_seconds gauge" in text
    [line] = [line for line in text.splitlines()
              if line.startswith(f'bridge_connection_last_event_age_seconds{{connection="{receiving.id}"}}')]
    assert 7200 <= float(line.split()[-1]) < 7200 + 600
    assert waiting.id not in text  # no event yet: no age to report
    assert "bridge_webhooks_total" in text  # the process's own metrics are still there


# -- the alert webhook -----------------------------------------------------------
def test_one_alert_per_transition_not_per_sweep(alerting, catcher):
    h = alerting
    connection = h.add_connection(name="Demo Cafe")
    h.work.sweep()
    _sale(h, connection.id, "evt-1")
    h.work.sweep()
    h.work.sweep()
    assert catcher.bodies == []  # waiting → receiving is not news

    _sale(h, connection.id, "evt-2", signing_key="wrong-key")
    for _ in range(3):
        h.work.sweep()
    assert catcher.states() == [("receiving", "rejecting")]
    alert = catcher.bodies[0]
    assert alert["connection_id"] == connection.id and alert["name"] == "Demo Cafe"
    assert "Demo Cafe" in alert["text"] and "rejecting" in alert["text"] and alert["fix"] in alert["text"]
    assert "does not match the signing key" in alert["fix"]

    _sale(h, connection.id, "evt-3")
    h.work.sweep()
    h.work.sweep()
    assert catcher.states() == [("receiving", "rejecting"), ("rejecting", "receiving")]
    assert catcher.bodies[1]["fix"] is None

    _age_events(h, connection.id, timedelta(hours=25))
    _age_refusals(h, connection.id, timedelta(hours=25))
    h.work.sweep()
    h.work.sweep()
    assert catcher.states()[2:] == [("receiving", "quiet")]


def test_a_restart_announces_nothing_again(alerting, catcher, tmp_path):
    connection = alerting.add_connection(target_key="xtarly_pos_wrong")
    _sale(alerting, connection.id, "evt-1")
    alerting.drain()
    alerting.work.sweep()
    assert catcher.states() == [(None, "paused")]
    assert "rotate-key" in catcher.bodies[0]["fix"]
    restarted = Harness(alerting.config.database_url, alert_webhook_url=catcher.url, alert_interval_seconds=0)
    try:
        restarted.work.sweep()
    finally:
        restarted.close()
    assert catcher.states() == [(None, "paused")]


def test_a_failed_alert_is_sent_on_the_next_pass(alerting, catcher):
    connection = alerting.add_connection()
    alerting.post_fixture(connection.id, SALE, sign=False)
    catcher.fail_next = 1
    alerting.work.sweep()
    assert catcher.bodies == []
    alerting.work.sweep()
    assert catcher.states() == [(None, "rejecting")]


def test_no_alert_url_no_alert_pass(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, SALE, sign=False)
    assert harness.work.sweep()["alerts"] == 0
    with harness.db.session() as session:
        assert connections.get(session, connection.id).announced_state is None


def test_the_alert_url_comes_from_the_environment():
    from bridge.config import Config

    config = Config.from_env({"BRIDGE_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X"})
    assert config.alert_webhook_url == "https://hooks.slack.com/services/T/B/X"
    assert Config.from_env({}).alert_webhook_url is None
