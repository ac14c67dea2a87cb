"""Both auth modes, rotation with its grace period, timestamps, and secrets in the URL."""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner

from bridge import connections, registry
from bridge.cli import main
from bridge.contract import ConnectionContext, InboundRequest
from bridge.errors import ConfigError, SignatureError
from bridge.store.tables import utcnow
from connectors.generic import auth
from connectors.generic.tests.posting import SALE, SECRET, connect, encode, post

generic = registry.get("generic")
BODY = encode(SALE)


def _signed(body: bytes = BODY, secret: str = SECRET, message_id: str = "msg_1", timestamp: int | None = None,
            **extra) -> dict[str, str]:
    return {"Authorization": None, **auth.standard_webhooks_headers(body, secret, message_id, timestamp), **extra}


# -- Standard Webhooks' own test vector (libraries/python tests/test_webhooks.py)
VECTOR = dict(secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
              timestamp="1614265330", body=b'{"test": 2432232314}')


def test_signature_reproduces_the_standard_webhooks_vector():
    assert auth.signature(**VECTOR) == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_vector_verifies_within_tolerance_and_fails_outside(monkeypatch):
    request = InboundRequest(body=VECTOR["body"], url="u", headers={
        "webhook-id": VECTOR["message_id"], "webhook-timestamp": VECTOR["timestamp"],
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="})
    monkeypatch.setattr(auth.time, "time", lambda: 1614265330 + 299)
    auth.verify(request, (VECTOR["secret"],), auth.SIGNATURE)
    monkeypatch.setattr(auth.time, "time", lambda: 1614265330 + 301)
    with pytest.raises(SignatureError, match="more than 5 minutes old"):
        auth.verify(request, (VECTOR["secret"],), auth.SIGNATURE)
    monkeypatch.setattr(auth.time, "time", lambda: 1614265330 - 301)
    with pytest.raises(SignatureError, match="in the future"):
        auth.verify(request, (VECTOR["secret"],), auth.SIGNATURE)


# -- API key mode (the default)
@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {SECRET}"},
    {"Authorization": f"bearer   {SECRET}"},
    {"Authorization": None, "X-Api-Key": SECRET},
    {"Authorization": "Basic " + base64.b64encode(f"zapier:{SECRET}".encode()).decode()},
    {"Authorization": "Basic " + base64.b64encode(f":{SECRET}".encode()).decode()},
    {"Authorization": "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()},
], ids=["bearer", "bearer-any-case", "x-api-key", "basic-password", "basic-no-user", "basic-key-as-user"])
def test_api_key_is_accepted_where_no_code_tools_put_it(harness, headers):
    connection = connect(harness)
    assert post(harness, connection, headers=headers).status_code == 202


@pytest.mark.parametrize("headers, reason", [
    ({"Authorization": None}, "no API key"),
    ({"Authorization": "Bearer whsec_wrong"}, "API key does not match"),
    ({"Authorization": None, "X-Api-Key": "nope"}, "API key does not match"),
    ({"Authorization": "Basic " + base64.b64encode(b"user:nope").decode()}, "API key does not match"),
    ({"Authorization": "Basic !!!"}, "not valid base64"),
    ({"Authorization": f"Token {SECRET}"}, "must be `Bearer <secret>`"),
])
def test_a_missing_or_wrong_key_is_401_and_nothing_stored(harness, headers, reason):
    connection = connect(harness)
    response = post(harness, connection, headers=headers)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert reason in response.get_json()["detail"]
    assert SECRET not in response.get_data(as_text=True)
    assert harness.events() == []


def test_api_key_mode_also_accepts_a_valid_signature(harness):
    connection = connect(harness)
    assert post(harness, connection, headers=_signed()).status_code == 202
    response = post(harness, connection, {**SALE, "reference": "R-2"}, headers=_signed())  # signed other bytes
    assert response.status_code == 401


# -- signature mode
def test_signature_mode_accepts_standard_webhooks(harness):
    connection = connect(harness, settings={"auth": "signature"})
    response = post(harness, connection, headers=_signed(message_id="msg_abc"))
    assert response.status_code == 202
    assert harness.events()[0].vendor_event_id == "msg_abc"


def test_signature_mode_refuses_an_api_key_even_the_right_one(harness):
    connection = connect(harness, settings={"auth": "signature"})
    response = post(harness, connection)
    assert response.status_code == 401
    assert "signatures only" in response.get_json()["detail"]


def test_signature_mode_ignores_an_authorization_header_a_proxy_added(harness):
    connection = connect(harness, settings={"auth": "signature"})
    assert post(harness, connection, headers=_signed(Authorization="Token proxy-stuff")).status_code == 202


@pytest.mark.parametrize("change, reason", [
    (lambda h: h.pop("webhook-id"), "no webhook-id header"),
    (lambda h: h.pop("webhook-signature"), "no webhook-signature header"),
    (lambda h: h.update({"webhook-timestamp": "1.5e9"}), "whole Unix seconds"),
    (lambda h: h.update({"webhook-signature": h["webhook-signature"].replace("v1,", "v1a,")}), "no v1 signature"),
    (lambda h: h.update({"webhook-signature": "v1,AAAA" + h["webhook-signature"][7:]}), "does not match"),
    (lambda h: h.update({"webhook-id": "msg_other"}), "does not match"),
])
def test_signature_failures_name_the_reason(harness, change, reason):
    connection = connect(harness, settings={"auth": "signature"})
    headers = _signed()
    change(headers)
    response = post(harness, connection, headers=headers)
    assert response.status_code == 401 and reason in response.get_json()["detail"]
    assert harness.events() == []


def test_one_changed_body_byte_breaks_the_signature(harness):
    connection = connect(harness, settings={"auth": "signature"})
    headers = _signed()
    response = post(harness, connection, BODY.replace(b"19.99", b"99.99"), headers=headers)
    assert response.status_code == 401


def test_stale_and_future_timestamps_are_401(harness):
    connection = connect(harness, settings={"auth": "signature"})
    # Each timestamp is taken just before its own request, 2 s past the
    # tolerance: whole seconds truncate by up to one, and a slow first request
    # must not bring the second one back inside the window.
    stale = post(harness, connection, headers=_signed(timestamp=int(time.time()) - 302))
    future = post(harness, connection, headers=_signed(timestamp=int(time.time()) + 302))
    assert stale.status_code == future.status_code == 401
    assert "more than 5 minutes old" in stale.get_json()["detail"]
    assert "in the future" in future.get_json()["detail"]
    assert post(harness, connection, headers=_signed(timestamp=int(time.time()) - 250)).status_code == 202
    assert harness.events()[0].status == "received"


def test_several_signatures_pass_if_any_matches(harness):
    connection = connect(harness, settings={"auth": "signature"})
    good = _signed()
    good["webhook-signature"] = "v1a,ZWQyNTUxOQ== v1,bm90LXRoaXMtb25l " + good["webhook-signature"]
    assert post(harness, connection, headers=good).status_code == 202


def test_a_plain_text_secret_signs_as_its_text_for_text_key_hmac_tools(harness):
    connection = connect(harness, secret="my till secret", settings={"auth": "signature"})
    assert post(harness, connection, headers=_signed(secret="my till secret")).status_code == 202


def test_the_signed_request_time_is_the_default_occurred_at(harness):
    connection = connect(harness, settings={"auth": "signature"})
    sent = int(time.time()) - 120
    answer = post(harness, connection, headers=_signed(timestamp=sent)).get_json()
    harness.drain()
    assert harness.transactions()[0].occurred_at.timestamp() == sent
    assert answer["occurred_at"] == harness.transactions()[0].occurred_at.isoformat().replace("+00:00", "Z")


# -- rotation
def _rotate(harness, connection, new_secret):
    connections.rotate(harness.db, connection.id, signing_key=new_secret)


@pytest.mark.parametrize("mode", [auth.API_KEY, auth.SIGNATURE])
def test_rotation_keeps_the_old_secret_for_the_grace_period_only(harness, monkeypatch, mode):
    connection = connect(harness, settings={"auth": mode})
    new = generic.new_signing_key()
    _rotate(harness, connection, new)

    def sent_with(secret, reference):
        body = {**SALE, "reference": reference}
        headers = _signed(encode(body), secret, reference) if mode == auth.SIGNATURE else {
            "Authorization": f"Bearer {secret}"}
        return post(harness, connection, body, headers=headers).status_code

    assert (sent_with(SECRET, "R-1"), sent_with(new, "R-2")) == (202, 202)
    later = utcnow() + timedelta(seconds=generic.signing_key_grace_seconds + 60)
    monkeypatch.setattr(connections, "utcnow", lambda: later)
    assert (sent_with(SECRET, "R-3"), sent_with(new, "R-4")) == (401, 202)


def test_the_grace_period_is_a_day():
    assert generic.signing_key_grace_seconds == 24 * 3600


# -- secrets in the URL
@pytest.mark.parametrize("query", ["?api_key=abc", "?token=abc", "?Key=abc", "?secret=abc",
                                   f"?x={SECRET}", f"?wait=2&access_token={SECRET}"])
def test_a_secret_in_the_query_string_is_refused_and_not_logged(harness, caplog, query):
    connection = connect(harness)
    with caplog.at_level(logging.DEBUG):
        response = post(harness, connection, query=query)
    assert response.status_code == 401
    assert "move it to a header" in response.get_json()["detail"]
    assert "rotate it" in response.get_json()["detail"]
    assert SECRET not in caplog.text and "abc" not in caplog.text
    assert harness.events() == []


def test_an_ordinary_query_parameter_is_fine(harness):
    connection = connect(harness)
    assert post(harness, connection, query="?source=zapier").status_code == 202


# -- the secret the bridge makes
def test_generated_secret_is_whsec_base64_of_32_random_bytes():
    secrets = {generic.new_signing_key() for _ in range(5)}
    assert len(secrets) == 5
    for secret in secrets:
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32


def test_connections_add_prints_the_generated_secret_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    runner = CliRunner()
    made = json.loads(runner.invoke(main, [
        "connections", "add", "--vendor", "generic", "--name", "Till", "--target", "xtarly",
        "--target-url", "http://127.0.0.1:8000/sandbox/xtarly", "--target-key", "xtarly_pos_demo",
        "--set", "auth=signature", "--json"], catch_exceptions=False).output)
    assert made["signing_key"].startswith("whsec_")
    listed = runner.invoke(main, ["connections", "list", "--json"]).output
    assert made["signing_key"] not in listed


def test_sign_follows_the_connection_mode():
    plain = ConnectionContext(id="c", vendor="generic")
    signed = ConnectionContext(id="c", vendor="generic", settings={"auth": "signature"})
    assert generic.sign(BODY, "u", SECRET, plain)["Authorization"] == f"Bearer {SECRET}"
    headers = generic.sign(BODY, "u", SECRET, signed)
    assert set(headers) == {"Content-Type", "webhook-id", "webhook-timestamp", "webhook-signature"}
    assert generic.sign(BODY, "u", SECRET, signed)["webhook-id"] == headers["webhook-id"]


@pytest.mark.parametrize("settings, message", [
    ({"auth": "hmac"}, "auth must be api_key or signature"),
    ({"timezone": "Mars/Olympus"}, "unknown timezone"),
])
def test_a_connection_that_could_never_work_is_refused_at_creation(harness, settings, message):
    with pytest.raises(ConfigError, match=message):
        connect(harness, settings=settings)
