"""Queue figures: /metrics reads them from the store at scrape time and
`bridge stats` prints the same ones."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from bridge.cli import main
from bridge.stats import queue_figures


def _gauge(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.M)
    assert match, f"{name}{{{wanted}}} not in /metrics"
    return float(match.group(1))


def test_queue_depth_follows_the_store(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed")
    scraped = harness.client.get("/metrics").get_data(as_text=True)
    assert _gauge(scraped, "bridge_queue_events_unparsed", connection=connection.id) == 1
    assert _gauge(scraped, "bridge_queue_transactions", connection=connection.id, state="pending") == 0

    harness.sandbox("post", "faults", json={"api": "xtarly", "status": 503, "count": 1})
    harness.drain()  # parsed, one attempt answered 503: pending, due again in a few seconds
    scraped = harness.client.get("/metrics").get_data(as_text=True)
    assert _gauge(scraped, "bridge_queue_events_unparsed", connection=connection.id) == 0
    assert _gauge(scraped, "bridge_queue_transactions", connection=connection.id, state="pending") == 1
    assert _gauge(scraped, "bridge_queue_transactions", connection=connection.id, state="due") == 0
    assert _gauge(scraped, "bridge_queue_oldest_pending_age_seconds", connection=connection.id) >= 0
    assert 'bridge_delivery_attempt_seconds_count{target="xtarly"}' in scraped

    harness.make_due()
    figures = queue_figures(harness.db)["connections"][connection.id]
    assert (figures["pending"], figures["due"], figures["paused"]) == (1, 1, 0)
    harness.sweep_and_drain()
    assert queue_figures(harness.db)["connections"] == {}  # delivered: nothing waits


def test_bridge_stats_prints_the_same_figures(harness, monkeypatch):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed")
    monkeypatch.setenv("DATABASE_URL", harness.config.database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    runner = CliRunner()
    shown = runner.invoke(main, ["stats", "--connection", connection.id, "--json"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == json.loads(json.dumps(queue_figures(harness.db, connection.id), default=str))
    assert json.loads(shown.output)["connections"][connection.id]["events_unparsed"] == 1
    table = runner.invoke(main, ["stats"], catch_exceptions=False)
    assert table.exit_code == 0 and connection.id in table.output
