"""Square's wrong-URL diagnosis: a request signed for another URL than the
bridge expects is still refused (401), and the reason names the URL Square
signed for and the one change that fixes it. Through the real app."""

from __future__ import annotations

import json
import logging

import pytest

from bridge import connections, registry, rejections
from connectors.square.signature import NO_MATCH
from tests.support import Harness, fixture_bytes

BODY = fixture_bytes("square", "payment.updated.completed")
KEY = "test-signature-key"


@pytest.fixture
def local(tmp_path):
    """A bridge that believes it is the default http://127.0.0.1:8000, behind a proxy it was not told about."""
    h = Harness(f"sqlite:///{tmp_path / 'bridge.db'}", public_url="http://127.0.0.1:8000")
    yield h
    h.close()


def _refused(h: Harness, connection_id: str, signed_for: str, headers: dict | None = None) -> str:
    response = h.post(connection_id, BODY, signed_url=signed_for, headers=headers)
    assert response.status_code == 401
    assert h.events() == [] and not h.dispatcher.jobs  # refused: nothing stored, nothing queued
    [row] = rejections.recent(h.db, connection_id, limit=1)
    assert response.get_json()["detail"] == row["reason"]
    return row["reason"]


def test_signed_for_the_public_https_host_seen_in_forwarded_headers(local):
    connection = local.add_connection()
    expected = f"http://127.0.0.1:8000/hooks/{connection.id}"
    public = f"https://pos.example.com/hooks/{connection.id}"
    reason = _refused(local, connection.id, public,
                      {"Host": "127.0.0.1:8000", "X-Forwarded-Host": "pos.example.com", "X-Forwarded-Proto": "https"})
    assert reason == (f"Square signed this request for `{public}`; the bridge expected `{expected}`: "
                      "set BRIDGE_PUBLIC_URL to `https://pos.example.com`")


def test_signed_for_the_host_header(local):
    connection = local.add_connection()
    public = f"https://pos.example.com:8443/hooks/{connection.id}"
    reason = _refused(local, connection.id, public, {"Host": "pos.example.com:8443"})
    assert reason.startswith(f"Square signed this request for `{public}`;")
    assert reason.endswith("set BRIDGE_PUBLIC_URL to `https://pos.example.com:8443`")


def test_signed_for_the_other_scheme(harness):
    connection = harness.add_connection()  # the harness's bridge is https://bridge.example.com
    plain = f"http://bridge.example.com/hooks/{connection.id}"
    reason = _refused(harness, connection.id, plain)
    assert reason.startswith(f"Square signed this request for `{plain}`; the bridge expected "
                             f"`https://bridge.example.com/hooks/{connection.id}`")
    assert reason.endswith("set BRIDGE_PUBLIC_URL to `http://bridge.example.com`")


def test_signed_with_a_trailing_slash(harness):
    connection = harness.add_connection()
    slashed = f"https://bridge.example.com/hooks/{connection.id}/"
    reason = _refused(harness, connection.id, slashed)
    assert reason == (f"Square signed this request for `{slashed}`; the bridge expected "
                      f"`https://bridge.example.com/hooks/{connection.id}`: remove the trailing slash from the "
                      "notification URL in Square Developer Console → Webhooks → Subscriptions")


def test_signed_for_another_host_with_a_trailing_slash_names_both_fixes(local):
    connection = local.add_connection()
    public = f"https://pos.example.com/hooks/{connection.id}/"
    reason = _refused(local, connection.id, public, {"X-Forwarded-Host": "pos.example.com"})
    assert reason.endswith("set BRIDGE_PUBLIC_URL to `https://pos.example.com` and remove the trailing slash "
                           "from the notification URL in Square Developer Console → Webhooks → Subscriptions")


def test_a_path_prefix_in_the_public_url_is_kept(tmp_path):
    h = Harness(f"sqlite:///{tmp_path / 'bridge.db'}", public_url="http://127.0.0.1:8000/bridge")
    try:
        connection = h.add_connection()
        signed = f"https://pos.example.com/bridge/hooks/{connection.id}"
        reason = _refused(h, connection.id, signed, {"X-Forwarded-Host": "pos.example.com"})
        assert reason.endswith("set BRIDGE_PUBLIC_URL to `https://pos.example.com/bridge`")
    finally:
        h.close()


def test_an_unlikely_url_is_not_guessed(local):
    connection = local.add_connection()
    assert _refused(local, connection.id, f"https://elsewhere.example.com/hooks/{connection.id}") == NO_MATCH


def test_a_host_header_that_is_not_a_host_is_ignored(local):
    connection = local.add_connection()
    odd = "[/bold]pos.example.com <script>"
    reason = _refused(local, connection.id, f"https://{odd}/hooks/{connection.id}", {"X-Forwarded-Host": odd})
    assert reason == NO_MATCH


def test_no_header_wrong_key_and_changed_body_each_say_what_can_be_said(harness):
    connection = harness.add_connection()
    assert harness.post(connection.id, BODY, sign=False).status_code == 401
    assert rejections.recent(harness.db, connection.id)[0]["reason"] == (
        "no x-square-hmacsha256-signature header: Square signs every notification, so this request did not "
        "come from a Square webhook subscription")

    assert harness.post(connection.id, BODY, signing_key="another-subscriptions-key").status_code == 401
    wrong_key = rejections.recent(harness.db, connection.id)[0]["reason"]

    url = connections.webhook_url(harness.config.public_url, connection.id)
    headers = registry.get("square").sign(BODY, url, KEY)
    changed = BODY[:-1] + b" }"  # one byte more, after signing
    assert harness.client.post(f"/hooks/{connection.id}", data=changed, headers=headers).status_code == 401
    body_changed = rejections.recent(harness.db, connection.id)[0]["reason"]
    # Indistinguishable from outside, and the reason says so rather than guess.
    assert wrong_key == body_changed == NO_MATCH
    assert "Signature key" in NO_MATCH and "body was changed" in NO_MATCH and "look the same" in NO_MATCH


def test_no_secret_or_signature_in_the_record_the_api_or_the_logs(local, caplog):
    caplog.set_level(logging.DEBUG)
    connection = local.add_connection(signing_keys=("sq-signature-key-do-not-leak",))
    public = f"https://pos.example.com/hooks/{connection.id}"
    headers = {"X-Forwarded-Host": "pos.example.com", "Authorization": "Bearer caller-token-do-not-leak"}
    response = local.post(connection.id, BODY, signed_url=public, signing_key="sq-signature-key-do-not-leak",
                          headers=headers)
    assert response.status_code == 401
    signature = response.request.headers["x-square-hmacsha256-signature"]
    stored = json.dumps(rejections.recent(local.db, connection.id))
    api = local.client.get(f"/api/connections/{connection.id}/rejections").get_data(as_text=True)
    listed = local.client.get("/api/connections").get_data(as_text=True)
    assert "Square signed this request for `https://pos.example.com" in api  # the diagnosis is there ...
    for text in (stored, api, listed, caplog.text, response.get_data(as_text=True)):
        for secret in (signature, "sq-signature-key-do-not-leak", "caller-token-do-not-leak"):
            assert secret not in text  # ... and no secret anywhere
