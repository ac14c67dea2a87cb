"""End to end in embedded mode: `bridge run` as a newcomer runs it, the CLI as
they type it, the sandbox core as they watch it."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.processes import Processes, tool, wait_until
from tests.services import free_port


@pytest.fixture
def embedded(tmp_path):
    port = free_port()
    procs = Processes(tmp_path, {"BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}", "BRIDGE_VAR_DIR": str(tmp_path / "var"),
                                 "REDIS_URL": "", "DATABASE_URL": ""})
    procs.start("bridge-run", tool("bridge"), "run", "--port", str(port))
    procs.base = f"http://127.0.0.1:{port}"
    procs.wait_http(f"{procs.base}/healthz")
    yield procs
    procs.stop_all()


@pytest.mark.parametrize("target, url_path, key", [
    ("xtarly", "/sandbox/xtarly", "xtarly_pos_demo"),
    ("cockato", "/sandbox/cockato/pos-transaction", "cockato_demo"),
])
def test_walkthrough_awards_points_within_seconds(embedded, target, url_path, key):
    connection = embedded.cli_json("connections", "add", "--vendor", "square", "--name", "Demo Cafe",
                                   "--target", target, "--target-url", embedded.base + url_path,
                                   "--target-key", key, "--signing-key", "demo-signature-key")
    assert connection["webhook_url"] == f"{embedded.base}/hooks/{connection['id']}"
    assert {"id", "name", "vendor", "webhook_url", "target", "signing_key"} <= set(connection)
    started = time.monotonic()
    sent = embedded.cli("send-fixture", "square", "payment.updated.completed", "--connection", connection["id"])
    assert "202" in sent.stdout
    events = wait_until(lambda: [e for e in embedded.cli_json("events", "list") if e["status"] == "delivered"],
                        timeout=10, message="the sale to be delivered")
    elapsed = time.monotonic() - started
    assert elapsed < 10
    [event] = events
    assert event["attempts"] == 1 and event["vendor"] == "square"
    ledger = httpx.get(f"{embedded.base}/sandbox/_sandbox/ledger").json()
    assert [(e["api"], e["points"]) for e in ledger] == [(target, 19)]
    shown = embedded.cli_json("events", "show", str(event["id"]))
    assert shown["transactions"][0]["delivery_attempts"][0]["status_code"] == 200
    assert shown["request"]["headers"]["x-square-hmacsha256-signature"].startswith("…")


def test_failed_events_are_listed_with_their_reason(embedded):
    connection = embedded.cli_json("connections", "add", "--vendor", "square", "--name", "No program",
                                   "--target", "xtarly", "--target-url", embedded.base + "/sandbox/xtarly",
                                   "--target-key", "xtarly_pos_noprogram", "--signing-key", "k")
    embedded.cli("send-fixture", "square", "payment.updated.completed", "--connection", connection["id"])
    failed = wait_until(lambda: embedded.cli_json("events", "list", "--status", "failed"), timeout=10,
                        message="a failed event")
    assert "BAD_REQUEST" in failed[0]["reason"]
    assert {"id", "connection_id", "vendor", "vendor_event_id", "status", "reason", "received_at",
            "attempts"} <= set(failed[0])


def test_bulk_replay_from_the_cli_follows_the_running_bridge(embedded):
    connection = embedded.cli_json("connections", "add", "--vendor", "square", "--name", "Fix me",
                                   "--target", "xtarly", "--target-url", embedded.base + "/sandbox/xtarly",
                                   "--target-key", "xtarly_pos_noprogram", "--signing-key", "k")
    embedded.cli("send-fixture", "square", "payment.updated.completed", "--connection", connection["id"])
    wait_until(lambda: embedded.cli_json("events", "list", "--status", "failed"), timeout=10, message="failure")
    embedded.cli("connections", "rotate-key", connection["id"], "--target-key", "xtarly_pos_demo")
    dry = embedded.cli("events", "replay", "--status", "failed", "--dry-run")
    assert "1 event(s) match" in dry.stdout
    result = embedded.cli("events", "replay", "--status", "failed", "--connection", connection["id"], "--yes")
    assert "finished: 1 done, 0 failed" in result.stdout, result.stdout
    [event] = embedded.cli_json("events", "list")
    assert event["status"] == "delivered"
    assert len(httpx.get(f"{embedded.base}/sandbox/_sandbox/ledger").json()) == 1
