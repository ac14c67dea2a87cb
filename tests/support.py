"""Test harness: the real Flask app (with the sandbox core mounted), a
dispatcher that records wake-ups, and a drain that runs the real worker code
for them. Deliveries go through httpx to the sandbox over a WSGI transport:
the client in use, really intercepted."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Callable

import httpx
from sqlalchemy import select, update

from bridge import connections, registry
from bridge.app import create_app
from bridge.config import Config
from bridge.runtime import Work
from bridge.store import Database
from bridge.store.tables import EventRow, TransactionRow, utcnow

PUBLIC_URL = "https://bridge.example.com"
SANDBOX = f"{PUBLIC_URL}/sandbox"
CONNECTORS = Path(__file__).resolve().parent.parent / "connectors"


ADMIN_TOKEN = "admin-secret-token"  # the `api` fixture's (conftest.py)


def fixture_bytes(vendor: str, name: str) -> bytes:
    """The fixture file's document (JSON), as stored in the connector's folder."""
    return (CONNECTORS / vendor / "fixtures" / f"{name}.json").read_bytes().rstrip(b"\n")


def fixture_request_body(vendor: str, name: str) -> bytes:
    """What the vendor would put on the wire for that fixture."""
    return registry.get(vendor).fixture_body(fixture_bytes(vendor, name))


class RecordingDispatcher:
    def __init__(self) -> None:
        self.jobs: deque[tuple[str, int | str]] = deque()

    def process_event(self, event_id: int) -> None:
        self.jobs.append(("process_event", event_id))

    def deliver(self, transaction_id: int) -> None:
        self.jobs.append(("deliver", transaction_id))

    def replay_job(self, job_id: int) -> None:
        self.jobs.append(("replay_job", job_id))

    def reconcile(self, connection_id: str) -> None:
        self.jobs.append(("reconcile", connection_id))

    def ping(self) -> str:
        return "ok"


class Harness:
    def __init__(self, database_url: str, real_http: bool = False, **config_overrides) -> None:
        self.config = replace(Config(database_url=database_url, public_url=PUBLIC_URL, testing=True,
                                     mount_sandbox=True, allow_private_targets=True,
                                     delivery_timeout_seconds=2.0, scheduled_reconcile=False),
                              **config_overrides)
        self.db = Database(self.config.database_url, self.config.secret_key)
        self.db.upgrade()
        self.dispatcher = RecordingDispatcher()
        self.app = create_app(self.config, dispatcher=self.dispatcher, db=self.db)
        self.client = self.app.test_client()
        # real_http: deliveries leave through the network (timeouts need a real socket)
        self.http = (httpx.Client(timeout=self.config.delivery_timeout_seconds) if real_http else
                     httpx.Client(transport=httpx.WSGITransport(app=self.app), base_url=PUBLIC_URL))
        self.work = Work(self.config, self.db, self.dispatcher, http=self.http)

    # -- connections ---------------------------------------------------------
    def add_connection(self, vendor: str = "square", target: str = "xtarly", target_key: str | None = None,
                       signing_keys: tuple[str, ...] = ("test-signature-key",), **kwargs):
        target_url = kwargs.pop("target_url", None) or (
            f"{SANDBOX}/xtarly" if target == "xtarly" else f"{SANDBOX}/cockato/pos-transaction")
        key = target_key or ("xtarly_pos_demo" if target == "xtarly" else "cockato_demo")
        return connections.create(self.db, vendor=vendor, name=kwargs.pop("name", "Test shop"), target=target,
                                  target_url=target_url, target_key=key, signing_keys=list(signing_keys),
                                  allow_private_targets=True, **kwargs).row

    # -- posting -------------------------------------------------------------
    def post(self, connection_id: str, body: bytes, vendor: str = "square", signing_key: str = "test-signature-key",
             signed_url: str | None = None, headers: dict | None = None, sign: bool = True):
        url = signed_url or connections.webhook_url(PUBLIC_URL, connection_id)
        connector = registry.get(vendor)
        with self.db.session() as session:
            row = connections.get(session, connection_id)
            context = connections.context(self.db, row) if row else None
        all_headers = (connector.sign(body, url, signing_key, context) if sign
                       else {"Content-Type": connector.accepted_content_types[0]})
        all_headers.update(headers or {})
        all_headers = {k: v for k, v in all_headers.items() if v is not None}
        return self.client.post(f"/hooks/{connection_id}", data=body, headers=all_headers)

    def post_fixture(self, connection_id: str, name: str, vendor: str = "square",
                     mutate: Callable[[dict], None] | None = None, **kwargs):
        body = fixture_bytes(vendor, name)
        if mutate:
            document = json.loads(body)
            mutate(document)
            body = json.dumps(document).encode()
        return self.post(connection_id, registry.get(vendor).fixture_body(body), vendor=vendor, **kwargs)

    # -- running the worker --------------------------------------------------
    def drain(self, max_jobs: int = 10000) -> int:
        ran = 0
        while self.dispatcher.jobs and ran < max_jobs:
            job, ident = self.dispatcher.jobs.popleft()
            getattr(self.work, job)(ident)
            ran += 1
        return ran

    def make_due(self) -> None:
        """Time travel for retries: everything scheduled is due now."""
        past = utcnow() - timedelta(seconds=1)
        with self.db.session() as session:
            for table in (EventRow, TransactionRow):
                session.execute(update(table).where(table.next_attempt_at.is_not(None))
                                .values(next_attempt_at=past, enqueued_at=None))

    def sweep_and_drain(self) -> None:
        self.work.sweep()
        self.drain()

    # -- reading -------------------------------------------------------------
    def ledger(self) -> list[dict]:
        return self.client.get("/sandbox/_sandbox/ledger").get_json()

    def sandbox(self, method: str, path: str, **kwargs):
        return getattr(self.client, method)(f"/sandbox/_sandbox/{path}", **kwargs)

    def events(self) -> list[EventRow]:
        with self.db.session() as session:
            return list(session.scalars(select(EventRow).order_by(EventRow.id)))

    def transactions(self) -> list[TransactionRow]:
        with self.db.session() as session:
            return list(session.scalars(select(TransactionRow).order_by(TransactionRow.id)))

    def close(self) -> None:
        self.http.close()
        self.db.dispose()


class LiveServer:
    """A WSGI app served on a loopback port in a thread, for real sockets."""

    def __init__(self, app) -> None:
        import threading

        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
