"""End to end in production mode: PostgreSQL, Redis, gunicorn web, real Celery
worker processes and beat, and the sandbox core as a process of its own."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from bridge import registry
from tests.e2e.processes import Processes, tool, wait_until
from tests.services import free_port
from tests.support import fixture_bytes

pytestmark = pytest.mark.services
square = registry.get("square")


@pytest.fixture
def production(tmp_path, fresh_postgres_db, fresh_redis_url):
    web_port, core_port = free_port(), free_port()
    procs = Processes(tmp_path, {
        "DATABASE_URL": fresh_postgres_db, "REDIS_URL": fresh_redis_url,
        "BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{web_port}", "BRIDGE_ALLOW_PRIVATE_TARGETS": "1",
        "BRIDGE_SWEEP_INTERVAL": "1s", "BRIDGE_REQUEUE_AFTER": "3s",
    })
    procs.cli("db", "upgrade")
    procs.start("sandbox", tool("gunicorn"), "--workers", "1", "--threads", "16", "--bind",
                f"127.0.0.1:{core_port}", "bridge.sandbox.wsgi:app")
    procs.start("web", tool("gunicorn"), "--workers", "2", "--threads", "4", "--bind",
                f"127.0.0.1:{web_port}", "bridge.wsgi:app")
    procs.start_worker = lambda: procs.start("worker", tool("celery"), "-A", "worker.celery_app:celery_app",
                                             "worker", "--concurrency", "2", "--loglevel", "INFO")
    procs.start_worker()
    procs.start("beat", tool("celery"), "-A", "worker.celery_app:celery_app", "beat",
                "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule"))
    procs.base, procs.core = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{core_port}"
    procs.wait_http(f"{procs.core}/_sandbox/ledger")
    procs.wait_http(f"{procs.base}/healthz")
    yield procs
    procs.stop_all()


def _connect(procs, target):
    url = f"{procs.core}/xtarly" if target == "xtarly" else f"{procs.core}/cockato/pos-transaction"
    key = "xtarly_pos_demo" if target == "xtarly" else "cockato_demo"
    return procs.cli_json("connections", "add", "--vendor", "square", "--name", f"Cafe {target}",
                          "--target", target, "--target-url", url, "--target-key", key,
                          "--signing-key", "prod-signature-key")


def _ledger(procs):
    return httpx.get(f"{procs.core}/_sandbox/ledger").json()


def test_readyz_sees_database_and_broker(production):
    ready = httpx.get(f"{production.base}/readyz").json()
    assert ready == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


def test_completed_payment_awards_once_on_both_targets(production):
    for target in ("xtarly", "cockato"):
        connection = _connect(production, target)
        production.cli("send-fixture", "square", "payment.updated.completed", "--connection", connection["id"])
    ledger = wait_until(lambda: len(_ledger(production)) == 2 and _ledger(production), timeout=20,
                        message=f"two awards\n{production.logs()}")
    assert sorted((e["api"], e["points"]) for e in ledger) == [("cockato", 19), ("xtarly", 19)]


def test_duplicates_and_several_events_for_one_payment_award_once(production):
    """payment.created (COMPLETED), then the same payment.updated posted 20 times at once."""
    connection = _connect(production, "xtarly")
    url = connection["webhook_url"]
    production.cli("send-fixture", "square", "payment.created.completed", "--connection", connection["id"])
    wait_until(lambda: len(_ledger(production)) == 1, timeout=20, message="the first award")
    body = fixture_bytes("square", "payment.updated.completed")
    headers = square.sign(body, url, "prod-signature-key")
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: httpx.post(url, content=body, headers=headers, timeout=30).status_code,
                                 range(20)))
    assert sorted(statuses) == [200] * 19 + [202]
    settled = lambda: [e for e in production.cli_json("events", "list") if e["status"] in ("received", "pending")] == []
    wait_until(settled, timeout=20, message="both events settled")
    events = production.cli_json("events", "list")
    assert [e["status"] for e in events] == ["delivered", "delivered"]
    ledger = _ledger(production)
    assert len(ledger) == 1 and ledger[0]["points"] == 19


def test_sweeper_finds_an_event_whose_wake_up_was_lost(production):
    """The web commits, then the broker loses the wake-up (FLUSHALL): beat re-finds it."""
    import redis

    connection = _connect(production, "xtarly")
    production.stop("worker")
    production.stop("beat")
    production.cli("send-fixture", "square", "payment.updated.completed", "--connection", connection["id"])
    assert redis.Redis.from_url(production.env["REDIS_URL"]).flushall()
    production.start_worker()
    production.start("beat", tool("celery"), "-A", "worker.celery_app:celery_app", "beat",
                     "--schedule", str(production.workdir / "beat-schedule-2"))
    wait_until(lambda: len(_ledger(production)) == 1, timeout=60,
               message=f"the sweeper to deliver\n{production.logs()}")
    [event] = production.cli_json("events", "list")
    assert event["status"] == "delivered"
