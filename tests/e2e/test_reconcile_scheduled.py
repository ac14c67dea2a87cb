"""Scheduled reconciliation with nobody doing anything: a sale the webhook
never brought is found and awarded by the embedded sweeper, and by Celery
beat + worker processes, from a fake of Lightspeed X-Series' API on a real
loopback port."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import httpx
import pytest

from bridge import connections
from bridge.config import Config
from bridge.store import Database
from connectors.lightspeed.tests.fake_api import TOKEN, FakeLightspeed
from tests.e2e.processes import wait_until
from tests.e2e.test_production import production  # noqa: F401  (the fixture)
from tests.support import PUBLIC_URL, LiveServer
from worker.embedded import EmbeddedDispatcher, EmbeddedWorker


@pytest.fixture
def lightspeed_api():
    fake = FakeLightspeed()
    server = LiveServer(fake.wsgi_app())
    fake.url = server.url
    yield fake
    server.close()


def _ledger(core_url: str) -> list[dict]:
    return httpx.get(f"{core_url}/_sandbox/ledger").json()


def test_the_embedded_sweeper_reconciles_a_missed_sale(tmp_path, live_sandbox, lightspeed_api):
    config = Config(database_url=f"sqlite:///{tmp_path / 'bridge.db'}", public_url=PUBLIC_URL,
                    allow_private_targets=True, sweep_interval_seconds=0.3, embedded_workers=2,
                    mount_sandbox=False)
    db = Database(config.database_url)
    db.upgrade()
    made = connections.create(
        db, vendor="lightspeed", name="Shop", target="xtarly", target_url=f"{live_sandbox.url}/xtarly",
        target_key="xtarly_pos_demo", signing_keys=["client-secret"], vendor_token=TOKEN, currency="NZD",
        settings={"api_base_url": lightspeed_api.url, "reconcile_every": "30s"}, allow_private_targets=True).row
    lightspeed_api.add_sale(at=datetime.now(timezone.utc).isoformat(), total_price=40, total_tax=6)
    worker = EmbeddedWorker(config, db, EmbeddedDispatcher())
    worker.start()
    try:
        wait_until(lambda: len(_ledger(live_sandbox.url)) >= 1, timeout=60)
        time.sleep(1.0)  # a second sweep would find nothing more to award
    finally:
        worker.stop()
    [award] = _ledger(live_sandbox.url)
    assert (award["customer_id"], award["amount"]) == ("cus_alice", 4600)
    with db.session() as session:
        view = connections.describe(db, connections.get(session, made.id), PUBLIC_URL)
    assert view["last_reconcile_at"] and view["last_reconcile"]["new"] == 1
    assert view["last_reconcile"]["trigger"] == "schedule"
    db.dispose()


def test_celery_beat_reconciles_a_missed_sale(production, lightspeed_api):  # noqa: F811
    core = production.core
    made = production.cli_json(
        "connections", "add", "--vendor", "lightspeed", "--name", "Shop", "--target", "xtarly",
        "--target-url", f"{core}/xtarly", "--target-key", "xtarly_pos_demo", "--signing-key", "client-secret",
        "--vendor-token", TOKEN, "--currency", "NZD", "--set", f"api_base_url={lightspeed_api.url}",
        "--set", "reconcile_every=30s")
    lightspeed_api.add_sale(at=datetime.now(timezone.utc).isoformat())
    wait_until(lambda: len(_ledger(core)) >= 1, timeout=90)
    [award] = _ledger(core)
    assert award["customer_id"] == "cus_alice"
    wait_until(lambda: [c for c in production.cli_json("connections", "list")
                        if c["id"] == made["id"]][0]["last_reconcile"] is not None, timeout=30)
