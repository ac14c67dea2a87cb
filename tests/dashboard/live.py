"""The real bridge in embedded mode on a loopback port, for the browser tests.

The socket is bound before the app is built, so the app's public URL (which
Square signatures cover) is the URL the browser and the POS really use.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import httpx
from werkzeug.serving import make_server

from bridge import connections, registry, views
from bridge.config import Config
from bridge.embedded import start_embedded
from bridge.search import EventFilter
from tests.support import fixture_bytes

TOKEN = "t0ken"
SIGNING_KEY = "square-signature-key"


class _Deferred:
    """A WSGI app filled in once the port (and so the public URL) is known."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


def wait_until(check: Callable, timeout: float = 20.0, message: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(0.1)


class LiveBridge:
    def __init__(self, directory: Path) -> None:
        front = _Deferred()
        self.server = make_server("127.0.0.1", 0, front, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.config = Config(database_url=f"sqlite:///{directory / 'b.db'}", public_url=self.url,
                             admin_token=TOKEN, mount_sandbox=True, allow_private_targets=True)
        self.app = start_embedded(self.config)
        front.app = self.app
        self.db = self.app.extensions["bridge"].db
        self.http = httpx.Client(timeout=10)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def connection(self, name: str, target_key: str):
        return connections.create(self.db, vendor="square", name=name, target="xtarly",
                                  target_url=f"{self.url}/sandbox/xtarly", target_key=target_key,
                                  signing_keys=[SIGNING_KEY], allow_private_targets=True).row

    def post_sale(self, connection_id: str, number: int = 0, email: str = "alice@example.com") -> None:
        """Square's payment.updated.completed fixture (Alice, $19.99) as a new sale number `number`."""
        document = json.loads(fixture_bytes("square", "payment.updated.completed"))
        document["event_id"] = str(uuid.uuid4())
        payment = document["data"]["object"]["payment"]
        payment["id"] = document["data"]["id"] = f"pay{number:04d}{uuid.uuid4().hex[:8]}"
        payment["buyer_email_address"] = email
        body = json.dumps(document).encode()
        url = connections.webhook_url(self.url, connection_id)
        response = self.http.post(url, content=body, headers=registry.get("square").sign(body, url, SIGNING_KEY))
        assert response.status_code < 300, response.text

    def events(self, status: str | None = None, connection_id: str | None = None) -> list[dict]:
        rows, _ = views.list_events(self.db, EventFilter(status=status, connection_id=connection_id), limit=1000)
        return rows

    def wait_for(self, status: str, count: int, connection_id: str | None = None, timeout: float = 30.0):
        return wait_until(lambda: len(self.events(status, connection_id)) == count, timeout,
                          f"{count} {status} event(s)")

    def ledger(self) -> list[dict]:
        return self.http.get(f"{self.url}/sandbox/_sandbox/ledger").json()

    def sandbox_fault(self, **fault) -> None:
        self.http.post(f"{self.url}/sandbox/_sandbox/faults", json=fault).raise_for_status()

    def close(self) -> None:
        self.app.extensions["embedded_worker"].stop()
        self.server.shutdown()
        self.http.close()
        self.db.dispose()
