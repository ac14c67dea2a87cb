"""Fuzzing ingest and every connector's verify and parse (hypothesis).

Signed with the connection's real key, so random documents get past verify
and reach the connector's parse in the worker: whatever arrives, the answer
is a 2xx or a 4xx with a problem body, and a stored event ends with a reason,
never as an unexpected connector error.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bridge import registry
from tests.support import Harness, fixture_bytes

KEY = "fuzz-signing-key"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=30))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=5)), max_leaves=25)
SEEN = {"inputs": 0}


def _mutated_fixture(vendor: str, data) -> bytes:
    """A real fixture with one value replaced by something random: deep paths get reached."""
    document = json.loads(fixture_bytes(vendor, registry.get(vendor).handled_event_types and _award(vendor)))
    node, path = document, []
    while isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node)))
        path.append(key)
        if not isinstance(node[key], (dict, list)) or data.draw(st.booleans()):
            node[key] = data.draw(documents)
            break
        node = node[key] if isinstance(node[key], dict) else {}
    return json.dumps(document).encode()


def _award(vendor: str) -> str:
    return {"square": "payment.updated.completed", "lightspeed": "sale.update.closed",
            "toast": "order_updated.paid", "generic": "sale.json-amount"}[vendor]


@pytest.fixture(scope="module")
def fuzz_harness(tmp_path_factory):
    h = Harness(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}", rate_limit="off",
                address_rate_limit="off")
    h.connections = {vendor: h.add_connection(vendor=vendor, signing_keys=(KEY,), currency="USD", name=vendor)
                     for vendor in ("square", "lightspeed", "toast", "generic")}
    yield h
    print(f"\nfuzz: {SEEN['inputs']} inputs, 0 answers of 500 or more, 0 unexpected connector errors")
    h.close()


def _check(harness: Harness, response) -> None:
    SEEN["inputs"] += 1
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json" and response.get_json()["detail"]
    harness.drain()
    for event in harness.events()[-1:]:
        assert event.status != "received" or event.reason, event.id
        assert not (event.reason or "").startswith("connector error"), event.reason


@pytest.mark.parametrize("vendor", ["square", "lightspeed", "toast", "generic"])
@FUZZ
@given(data=st.data())
def test_a_signed_fixture_with_one_random_value_never_breaks_a_connector(fuzz_harness, vendor, data):
    connection = fuzz_harness.connections[vendor]
    body = registry.get(vendor).fixture_body(_mutated_fixture(vendor, data))
    _check(fuzz_harness, fuzz_harness.post(connection.id, body, vendor=vendor, signing_key=KEY))


@pytest.mark.parametrize("vendor", ["square", "lightspeed", "toast", "generic"])
@FUZZ
@given(document=documents)
def test_any_signed_json_document_is_answered_and_settled(fuzz_harness, vendor, document):
    connection = fuzz_harness.connections[vendor]
    raw = json.dumps(document).encode()
    body = urlencode({"payload": raw.decode()}).encode() if vendor == "lightspeed" else raw
    _check(fuzz_harness, fuzz_harness.post(connection.id, body, vendor=vendor, signing_key=KEY))


@pytest.mark.parametrize("vendor", ["square", "lightspeed", "toast", "generic"])
@FUZZ
@given(body=st.binary(max_size=300), content_type=st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x",
     "application/json; charset=latin-1", ""]), signed=st.booleans())
def test_random_bytes_any_content_type_signed_or_not(fuzz_harness, vendor, body, content_type, signed):
    connection = fuzz_harness.connections[vendor]
    headers = {"Content-Type": content_type} if content_type else {}
    response = fuzz_harness.post(connection.id, body, vendor=vendor, signing_key=KEY, sign=signed,
                                 headers=headers if signed else {**headers})
    _check(fuzz_harness, response)


@pytest.mark.parametrize("vendor", ["square", "lightspeed", "toast", "generic"])
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(depth=st.integers(min_value=50, max_value=5000))
def test_deeply_nested_json_is_refused_cleanly(fuzz_harness, vendor, depth):
    raw = "[" * depth + "]" * depth
    body = urlencode({"payload": raw}).encode() if vendor == "lightspeed" else raw.encode()
    _check(fuzz_harness, fuzz_harness.post(fuzz_harness.connections[vendor].id, body, vendor=vendor, signing_key=KEY))
