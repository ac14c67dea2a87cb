"""Property tests over the schema: no input yields a 5xx, whatever its shape,
encoding or headers; whatever is acknowledged parses in the worker; every
valid amount arrives in exact minor units."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import connections, registry
from bridge.contract import InboundRequest
from connectors.generic.schema import FIELDS
from connectors.generic.tests.posting import SECRET, connect

generic = registry.get("generic")
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

names = st.one_of(st.sampled_from(FIELDS), st.sampled_from(["metadata__till", "metadata[x]", "metadata.y",
                                                            "Email", " amount ", "emial"]),
                  st.text(max_size=12))
plausible = st.sampled_from(["", " ", "12.50", "12,50", "$3", "-1", "1e3", "0", "1250", "JPY", "aud", "XAU",
                             "alice@example.com", "+61412345678", "0412345678", "LOYAL-0001", "sale", "refund",
                             "true", "no", "2024-05-01T10:00:00Z", "2024-05-01 10:00", "1714537800",
                             "99999999999999999999", "0001-01-01T00:00:00+14:00", '{"a": 1}', "{", "R-1"])
scalars = st.one_of(plausible, st.text(max_size=40), st.integers(min_value=-10**20, max_value=10**20),
                    st.booleans(), st.none(), st.decimals(allow_nan=False, allow_infinity=False, places=3))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
money = st.one_of(st.decimals(min_value=0, max_value=10**6, places=2).map(str), st.integers(0, 10**6))
sales = st.fixed_dictionaries(
    {"reference": st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=20),
     "amount": money, "email": st.emails()},
    optional={"currency": st.sampled_from(["AUD", "jpy", "KWD", ""]),
              "phone": st.sampled_from(["+61412345678", "0412 345 678", "+1 202 555 0143"]),
              "barcode": st.text(max_size=12), "kind": st.sampled_from(["sale", "refund", "REFUND"]),
              "refund_of": st.text(max_size=8), "test": st.sampled_from([True, "false", "1"]),
              "occurred_at": st.datetimes(datetime(2001, 1, 1), datetime(2024, 1, 1),
                                          timezones=st.none() | st.timezones()).map(datetime.isoformat),
              "metadata": st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3)})
# Mostly a valid sale with a few fields changed, so every path past validation is walked too.
documents = st.one_of(st.dictionaries(names, values, max_size=10),
                      st.builds(lambda sale, changes: {**sale, **changes}, sales,
                                st.dictionaries(names, values, max_size=2)))
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
headers = st.fixed_dictionaries({}, optional={"Idempotency-Key": header_text, "webhook-id": header_text,
                                              "webhook-timestamp": header_text, "webhook-signature": header_text})


def _as_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _multipart(document: dict) -> tuple[bytes, str]:
    boundary = "b0undary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
             + _as_text(value).encode() + b"\r\n" for name, value in document.items() if '"' not in name]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _encode(document: dict, how: str) -> tuple[bytes, str]:
    if how == "json":
        return json.dumps(document, default=str).encode(), "application/json"
    if how == "text":
        return json.dumps(document, default=str).encode(), "text/plain"
    if how == "form":
        return urlencode({k: _as_text(v) for k, v in document.items()}).encode(), "application/x-www-form-urlencoded"
    return _multipart(document)


@pytest.fixture
def connection(harness):
    return connect(harness)


def _post(harness, connection, body: bytes, content_type: str | None, extra: dict | None = None):
    sent = {"Authorization": f"Bearer {SECRET}", **(extra or {})}
    if content_type:
        sent["Content-Type"] = content_type
    return harness.client.post(f"/hooks/{connection.id}", data=body, headers=sent)


def _assert_answered(harness, response):
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json
    if response.status_code in (200, 202):
        stored = next(e for e in harness.events() if e.id == response.get_json()["event_id"])
        with harness.db.session() as session:
            context = connections.context(harness.db, connections.get(session, stored.connection_id))
        # What was acknowledged must parse in the worker, from the stored bytes.
        generic.parse(InboundRequest(body=stored.body, headers=stored.headers, url="u",
                                     content_type=stored.content_type), context)


@PROPERTY
@given(document=documents, how=st.sampled_from(["json", "text", "form", "multipart"]), extra=headers)
def test_no_document_in_any_encoding_yields_a_5xx(harness, connection, document, how, extra):
    body, content_type = _encode(document, how)
    if not body.strip():
        return
    _assert_answered(harness, _post(harness, connection, body, content_type, extra))


@PROPERTY
@given(body=st.binary(min_size=1, max_size=300),
       content_type=st.sampled_from([None, "application/json", "text/plain", "application/x-www-form-urlencoded",
                                     "multipart/form-data; boundary=x", "multipart/form-data",
                                     "application/json; charset=latin-1"]))
def test_no_bytes_yield_a_5xx(harness, connection, body, content_type):
    if not body.strip():
        return
    _assert_answered(harness, _post(harness, connection, body, content_type))


_references = itertools.count()


@PROPERTY
@given(amount=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
       as_string=st.booleans(), how=st.sampled_from(["json", "form", "multipart", "text"]))
def test_every_valid_amount_arrives_in_exact_minor_units(harness, connection, amount, as_string, how):
    document = {"reference": f"P-{next(_references)}", "currency": "AUD", "email": "alice@example.com",
                "amount": str(amount) if as_string or how in ("form", "multipart") else amount}
    body, content_type = _encode(document, how)
    if how in ("json", "text") and not as_string:
        body = body.replace(f'"{amount}"'.encode(), str(amount).encode())  # a JSON number, not a string
    response = _post(harness, connection, body, content_type)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["amount_minor"] == int(amount * 100) == amount.scaleb(2)


