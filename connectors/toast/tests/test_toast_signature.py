"""Toast-Signature: every reading the vendor notes list, the negatives, several secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from bridge import connections
from bridge.contract import ConnectionContext, InboundRequest
from bridge.errors import SignatureError
from connectors.toast.signature import main as signature_main
from connectors.toast.tests.helpers import SECRET, connect, post, toast
from tests.support import fixture_bytes


def _verify(body: bytes, signature: str | None, keys=(SECRET,), settings=None):
    headers = {} if signature is None else {"toast-signature": signature}
    toast.verify(InboundRequest(body=body, headers=headers, url="u"),
                 ConnectionContext(id="c", vendor="toast", signing_keys=tuple(keys), settings=settings or {}))


BODY = fixture_bytes("toast", "order_updated.paid")
TIMESTAMP = b"2026-03-28T19:42:07.050Z"


def _b64(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def test_default_reading_is_body_then_envelope_timestamp():
    assert toast.sign(BODY, "u", SECRET)["Toast-Signature"] == _b64(SECRET, BODY + TIMESTAMP)


@pytest.mark.parametrize("signature", [
    _b64(SECRET, BODY + TIMESTAMP),  # DG:apiMessageSigning's Java sample, envelope timestamp
    _b64(SECRET, BODY),  # the body alone
    hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest(),  # hex, body alone
], ids=["body+timestamp", "body", "body-hex"])
def test_each_signature_reading_is_accepted_and_logged(signature, caplog):
    caplog.set_level("INFO", logger="bridge.connectors.toast")
    _verify(BODY, signature)
    assert "matched the" in caplog.text


def test_a_pinned_reading_refuses_the_others():
    _verify(BODY, _b64(SECRET, BODY), settings={"signing": "body"})
    with pytest.raises(SignatureError, match="does not match"):
        _verify(BODY, _b64(SECRET, BODY + TIMESTAMP), settings={"signing": "body"})


def test_body_alone_reading_through_the_app(harness):
    connection = connect(harness)
    body = fixture_bytes("toast", "order_updated.paid")
    response = harness.post(connection.id, body, vendor="toast", signing_key=SECRET,
                            headers={"Toast-Signature": _b64(SECRET, body)})
    assert response.status_code == 202


def test_pinned_reading_is_what_sign_produces(harness):
    connection = connect(harness, settings={"signing": "body"})
    assert post(harness, connection, "order_updated.paid").status_code == 202


@pytest.mark.parametrize("change", [
    dict(keys=("wrong-secret",)),
    dict(keys=("menus-secret",)),  # another subscription's secret
    dict(body=BODY.replace(b'"42"', b'"43"', 1)),  # one byte changed
    dict(body=json.dumps(json.loads(BODY)).encode()),  # re-serialised
    dict(signature=_b64(SECRET, BODY + b"2026-03-28T19:42:07Z")),  # another timestamp
])
def test_signature_negatives(change):
    args = dict(body=BODY, signature=_b64(SECRET, BODY + TIMESTAMP), keys=(SECRET,))
    args.update(change)
    with pytest.raises(SignatureError, match="does not match"):
        _verify(**args)


def test_missing_signature_header_names_it():
    with pytest.raises(SignatureError, match="no Toast-Signature header"):
        _verify(BODY, None)


@pytest.mark.parametrize("how", ["wrong secret", "other subscription", "one byte", "no header"])
def test_signature_negatives_through_the_app(harness, how):
    connection = connect(harness)
    body = fixture_bytes("toast", "order_updated.paid")
    if how == "wrong secret":
        response = harness.post(connection.id, body, vendor="toast", signing_key="wrong")
    elif how == "other subscription":
        response = harness.post(connection.id, body, vendor="toast", signing_key="menus-secret")
    elif how == "one byte":
        headers = toast.sign(body, "u", SECRET)
        response = harness.client.post(f"/hooks/{connection.id}", data=body.replace(b"34.85", b"34.86", 1),
                                       headers=headers)
    else:
        response = harness.post(connection.id, body, vendor="toast", signing_key=SECRET,
                                headers={"Toast-Signature": None})
    assert response.status_code == 401
    assert harness.events() == [] and not harness.dispatcher.jobs


def test_one_connection_holds_every_subscription_secret(harness):
    connection = connect(harness, signing_keys=("orders-secret", "menus-secret"))
    assert post(harness, connection, "order_updated.paid", signing_key="orders-secret").status_code == 202
    assert post(harness, connection, "menus.updated", signing_key="menus-secret").status_code == 202
    assert post(harness, connection, "stock.out-of-stock", signing_key="stock-secret").status_code == 401
    connections.rotate(harness.db, connection.id, signing_key="stock-secret")
    assert post(harness, connection, "stock.out-of-stock", signing_key="stock-secret").status_code == 202
    assert post(harness, connection, "order_updated.open", signing_key="orders-secret").status_code == 202
    harness.drain()
    assert len(harness.ledger()) == 1


def test_signature_helper_names_the_matching_reading(tmp_path, monkeypatch, capsys):
    (tmp_path / "body.json").write_bytes(BODY + b"\n")
    monkeypatch.setenv("TOAST_SIGNING_SECRET", SECRET)
    assert signature_main([str(tmp_path / "body.json"), _b64(SECRET, BODY)]) == 0
    assert "'body' reading" in capsys.readouterr().out
    assert signature_main([str(tmp_path / "body.json"), _b64("other", BODY)]) == 1
