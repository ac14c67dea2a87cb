"""Abuse: admin routes closed, secrets never leak, captured requests useless elsewhere."""

from __future__ import annotations

import logging

import pytest

from bridge import connections
from tests.support import Harness, fixture_bytes

PUBLIC_ADMIN_ENDPOINTS = {"admin_api.openapi", "dashboard.login", "dashboard.static"}


@pytest.fixture
def guarded(tmp_path):
    h = Harness(f"sqlite:///{tmp_path / 'abuse.db'}", admin_token="the-admin-token")
    yield h
    h.close()


def _sample_path(rule) -> str:
    path = rule.rule
    for argument in rule.arguments:
        path = path.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "x")
    return path.replace("<any(pause, resume, disable):action>", "pause")


def test_every_admin_route_requires_the_token(guarded):
    """Walks the URL map: no /api/ or /admin/ route is left open, from loopback included."""
    checked = 0
    for rule in guarded.app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/admin")) or rule.endpoint in PUBLIC_ADMIN_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = guarded.client.open(_sample_path(rule), method=method,
                                           environ_base={"REMOTE_ADDR": "127.0.0.1"})
            assert response.status_code in (302, 401), (method, rule.rule, response.status_code)
            if response.status_code == 302:
                assert "/admin/login" in response.headers["Location"]
            checked += 1
    assert checked >= 25


def test_a_captured_request_fails_on_another_connections_url(harness):
    """Square signs the URL: a body and signature replayed at another connection are refused."""
    first = harness.add_connection(name="first")
    second = harness.add_connection(name="second")  # same signing key, even
    captured = harness.post_fixture(first.id, "payment.updated.completed")
    assert captured.status_code == 202
    body = fixture_bytes("square", "payment.updated.completed")
    signature = captured.request.headers["x-square-hmacsha256-signature"]
    replayed = harness.client.post(f"/hooks/{second.id}", data=body, headers={
        "Content-Type": "application/json", "x-square-hmacsha256-signature": signature})
    assert replayed.status_code == 401
    assert [e.connection_id for e in harness.events()] == [first.id]


def test_no_secret_reaches_a_log_line_an_error_body_or_the_stored_headers(harness, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = ["sq-signing-secret-1234", "xtarly_pos_demo", "EAAA-square-token-5678"]
    square = connections.create(harness.db, vendor="square", name="Cafe", target="xtarly",
                                target_url="https://bridge.example.com/sandbox/xtarly", target_key=secrets[1],
                                signing_keys=[secrets[0]], vendor_token=secrets[2],
                                allow_private_targets=True).row
    generic = connections.create(harness.db, vendor="generic", name="Till", target="xtarly",
                                 target_url="https://bridge.example.com/sandbox/xtarly", target_key=secrets[1],
                                 signing_keys=[], allow_private_targets=True)
    secrets.append(generic.generated_signing_key)
    bodies = []
    bodies.append(harness.post_fixture(square.id, "payment.updated.completed", signing_key=secrets[0]))
    bodies.append(harness.post_fixture(square.id, "payment.updated.completed-jpy", signing_key="wrong"))
    sale = b'{"reference": "T-1", "amount": "5.00", "currency": "USD", "email": "alice@example.com"}'
    bodies.append(harness.client.post(f"/hooks/{generic.row.id}", data=sale, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {secrets[3]}"}))
    bodies.append(harness.client.post(f"/hooks/{generic.row.id}?api_key={secrets[3]}", data=sale,
                                      headers={"Content-Type": "application/json"}))
    bodies.append(harness.client.post(f"/hooks/{generic.row.id}", data=b"{bad", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {secrets[3]}"}))
    harness.drain()
    assert [r.status_code for r in bodies] == [202, 401, 202, 401, 400]
    from bridge import rejections, views
    exposed = [record.getMessage() for record in caplog.records]
    exposed += [response.get_data(as_text=True) for response in bodies]
    exposed += [repr(event.headers) for event in harness.events()]
    exposed += [repr(views.show_event(harness.db, event.id)) for event in harness.events()]
    exposed += [repr(rejections.recent(harness.db, square.id)), repr(rejections.recent(harness.db, generic.row.id))]
    exposed += [repr(connections.describe(harness.db, row, harness.config.public_url))
                for row in connections.list_rows(harness.db)]
    for secret in secrets:
        leaks = [text for text in exposed if secret in text]
        assert not leaks, f"secret {secret[:6]}… found in: {leaks[0][:200]}"
