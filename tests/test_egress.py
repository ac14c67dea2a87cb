"""The private-network rule holds where the socket opens, not only where the URL was checked.

A DNS rebinding attack answers a public address while the connection is
created and a private one when the bridge connects. These tests play that DNS
server by wrapping socket.getaddrinfo, and listen on a real loopback port to
see whether anything arrives.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from flask import Flask, request

from bridge import connections, egress
from bridge.delivery import Deliverer
from bridge.store.tables import TransactionRow
from tests.support import Harness, LiveServer

PUBLIC = "93.184.216.34"  # what the hostile DNS answers first: a public address
HOST = "core.rebind.example"


@pytest.fixture
def listener():
    """A loopback HTTP server recording every request it is sent."""
    received: list[dict] = []
    app = Flask("listener")

    @app.post("/<path:path>")
    def record(path):
        received.append({"path": path, "host": request.headers.get("Host")})
        return {"success": True, "pointsEarned": 1, "newBalance": 1}

    server = LiveServer(app)
    server.received = received
    server.port = server.server.server_port
    yield server
    server.close()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """HOST resolves to PUBLIC for its first `public_answers` lookups, then to 127.0.0.1."""
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []
    state = {"public_answers": 1}

    def getaddrinfo(host, port, *args, **kwargs):
        if host != HOST:
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        address = PUBLIC if len(lookups) <= state["public_answers"] else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    state["lookups"] = lookups
    return state


def test_a_host_rebound_to_loopback_after_the_check_is_refused_at_connect(rebinding_dns, listener):
    url = f"http://{HOST}:{listener.port}/transaction"
    connections.check_target_url(url, allow_private=False)  # first answer: public, so it passes
    with egress.target_client(2.0, allow_private=False) as client:
        with pytest.raises(egress.PrivateAddressRefused, match=r"private network \(127\.0\.0\.1\)"):
            client.post(url, json={})
    assert listener.received == []


def test_the_socket_goes_to_the_address_that_was_checked(rebinding_dns, listener, monkeypatch):
    """One lookup per connection: the socket is opened to the checked address,
    so there is no second lookup for a rebinding server to answer differently."""
    rebinding_dns["public_answers"] = 0  # every answer is 127.0.0.1 ...
    monkeypatch.setattr(egress, "is_private", lambda address: False)  # ... which this test lets through
    with egress.target_client(2.0, allow_private=False) as client:
        response = client.post(f"http://{HOST}:{listener.port}/transaction", json={})
    assert response.status_code == 200
    assert rebinding_dns["lookups"] == [HOST]
    assert listener.received == [{"path": "transaction", "host": f"{HOST}:{listener.port}"}]


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1"])
def test_every_private_kind_of_address_is_refused(address):
    assert egress.is_private(address)


def test_public_addresses_pass():
    assert not egress.is_private(PUBLIC)
    assert not egress.is_private("2606:4700::6810:85e5")


def test_allowed_private_targets_use_a_plain_client(listener):
    with egress.target_client(2.0, allow_private=True) as client:
        assert client.post(f"http://127.0.0.1:{listener.port}/transaction", json={}).status_code == 200
    assert len(listener.received) == 1


def test_a_delivery_to_a_rebound_host_fails_visibly_and_sends_nothing(tmp_path, rebinding_dns, listener):
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", allow_private_targets=False)
    row = connections.create(harness.db, vendor="square", name="rebind", target="xtarly",
                             target_url=f"http://{HOST}:{listener.port}/xtarly", target_key="xtarly_pos_demo",
                             signing_keys=["test-signature-key"]).row  # passes: HOST looked public
    rebinding_dns["public_answers"] = 2  # the delivery's own pre-check still sees the public answer
    harness.post_fixture(row.id, "payment.updated.completed")
    # Deliveries leave through the bridge's own client (the harness's goes in-process).
    harness.work.deliverer = Deliverer(harness.db, timeout=2.0, retry_budget_seconds=60,
                                       allow_private_targets=False)
    harness.drain()
    [tx_id] = [tx.id for tx in harness.transactions()]
    with harness.db.session() as session:
        tx = session.get(TransactionRow, tx_id)
        assert tx.status == "failed", tx.reason
        assert "private network (127.0.0.1)" in tx.reason
        assert tx.attempts == 1
    assert listener.received == []
    harness.work.deliverer.http.close()
    harness.close()


def test_a_refusal_is_not_an_ordinary_connect_error_to_retry():
    from bridge.clients import client_for
    from bridge.outcome import Verdict, classify_exception
    refused = egress.PrivateAddressRefused("target host x is on a private network (10.0.0.1)")
    assert classify_exception(client_for("xtarly"), refused).verdict == Verdict.FAILED
    assert classify_exception(client_for("xtarly"), httpx.ConnectError("refused")).verdict == Verdict.RETRY
