"""Lightspeed X-Series: conformance, the four signature readings, and the sale rules.

Every webhook here is a real form-encoded body (`payload=<json>`) posted
through the app; the retailer's API is faked at the HTTP layer with respx.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
import respx
from click.testing import CliRunner

from bridge import registry
from bridge.cli import main
from bridge.contract import InboundRequest
from bridge.errors import ConfigError
from tests.conformance import ConnectorConformance
from tests.support import fixture_bytes, fixture_request_body

VENDOR = "lightspeed"
KEY = "test-signature-key"  # stands for the OAuth app's client_secret
API = "https://lightspeed-fake.test"
TOKEN = "lsxs_pt_test-token"
CLOSED_ID = "06bf5d6c-da69-11e7-f2ba-5d5a1f5e0c1a"
RETURN_ID = "06bf5d6c-da69-11e7-f2ba-5d5a1f63c9d0"
REFETCH_ID = "06bf5d6c-da69-11e7-f2ba-5d5a1f64e1f2"
BOB_ID = "0adaafb3-6583-11e5-fb60-c4a1d1b0b002"
lightspeed = registry.get(VENDOR)


class TestLightspeedConformance(ConnectorConformance):
    vendor = VENDOR
    award_fixture = "sale.update.closed"
    unknown_type_fixture = "unknown.unrecognised-payload"
    expectations = {
        "sale.update.closed": "award",
        "sale.update.layby-closed": "award",
        "sale.update.unsigned-refetch": "award",  # signed, no token: the signed body is enough
        "sale.update.walk-in": "unmatched",
        "sale.update.phone-only": "unmatched",  # Xtarly matches by email only
        "sale.update.parked": "skipped",
        "sale.update.layby-open": "skipped",
        "sale.update.voided": "skipped",  # a reversal; default: the target has no reversal API
        "sale.update.return-partial": "skipped",  # a refund; same default
        "customer.update.balance-changed": "skipped",
        "product.update.official": "skipped",
        "unknown.unrecognised-payload": "skipped",
    }

    def connect(self, harness, **kwargs):
        # The webhook carries no currency: a connection without a token names it.
        kwargs.setdefault("currency", "NZD")
        return super().connect(harness, **kwargs)


def connect(harness, **kwargs):
    kwargs.setdefault("signing_keys", (KEY,))
    kwargs.setdefault("currency", "NZD")
    return harness.add_connection(vendor=VENDOR, **kwargs)


def post(harness, connection, name, **kwargs):
    kwargs.setdefault("signing_key", KEY)
    return harness.post_fixture(connection.id, name, vendor=VENDOR, **kwargs)


def fixture(name):
    return json.loads(fixture_bytes(VENDOR, name))


def changed(totals=None, **fields):
    """A mutate for post_fixture: top-level fields replaced, `totals` merged."""
    def mutate(doc):
        doc.update(copy.deepcopy(fields))
        if totals:
            doc["totals"].update(totals)
    return mutate


def statuses(harness):
    return [event.status for event in harness.events()]


# -- signatures: the four readings the docs leave open ------------------------
READINGS = [("raw", "hex"), ("raw", "base64"), ("payload", "hex"), ("payload", "base64")]


def _sign(body: bytes, key: str, source: str, encoding: str) -> str:
    message = body if source == "raw" else parse_qs(body.decode())["payload"][0].encode()
    mac = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode()


def _post_signed(harness, connection, body, signature, algorithm="HMAC-SHA256"):
    header = f"signature={signature},algorithm={algorithm}"
    return harness.post(connection.id, body, vendor=VENDOR, sign=False, headers={"X-Signature": header})


@pytest.mark.parametrize("source,encoding", READINGS)
def test_each_documented_reading_verifies_and_is_logged(harness, caplog, source, encoding):
    caplog.set_level(logging.INFO, logger="connectors.lightspeed")
    connection = connect(harness)
    body = fixture_request_body(VENDOR, "sale.update.closed")
    response = _post_signed(harness, connection, body, _sign(body, KEY, source, encoding))
    assert response.status_code == 202, response.get_json()
    wanted = f"{encoding} over the {'raw body' if source == 'raw' else 'payload field'}"
    assert any(wanted in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("source,encoding", READINGS)
def test_each_reading_with_another_key_is_401(harness, source, encoding):
    connection = connect(harness)
    body = fixture_request_body(VENDOR, "sale.update.closed")
    response = _post_signed(harness, connection, body, _sign(body, "another-client-secret", source, encoding))
    assert response.status_code == 401
    assert "does not match" in response.get_json()["detail"]
    assert harness.events() == []


@pytest.mark.parametrize("source,encoding", READINGS)
def test_each_reading_over_a_body_changed_by_one_byte_is_401(harness, source, encoding):
    connection = connect(harness)
    body = fixture_request_body(VENDOR, "sale.update.closed")
    signature = _sign(body, KEY, source, encoding)
    tampered = body.replace(b"63.47826", b"63.47827")
    assert tampered != body
    assert _post_signed(harness, connection, tampered, signature).status_code == 401
    assert harness.events() == []


def test_extra_form_fields_are_covered_by_the_raw_body_readings_only(harness):
    connection = connect(harness)
    body = fixture_request_body(VENDOR, "sale.update.closed")
    extended = body + b"&domain_prefix=myshop&environment=prod"
    assert _post_signed(harness, connection, extended, _sign(body, KEY, "raw", "hex")).status_code == 401
    assert _post_signed(harness, connection, extended, _sign(body, KEY, "payload", "hex")).status_code == 202


def test_uppercase_hex_verifies(harness):
    connection = connect(harness)
    body = fixture_request_body(VENDOR, "sale.update.closed")
    assert _post_signed(harness, connection, body, _sign(body, KEY, "raw", "hex").upper()).status_code == 202


@pytest.mark.parametrize("header,reason", [
    (None, "no X-Signature header"),
    ("algorithm=HMAC-SHA256", "no signature= member"),
    ("signature={sig},algorithm=HMAC-SHA1", "only HMAC-SHA256"),
    ("signature=,algorithm=HMAC-SHA256", "no signature= member"),
])
def test_malformed_signature_headers_are_401_with_the_reason(harness, header, reason):
    connection = connect(harness)
    body = fixture_request_body(VENDOR, "sale.update.closed")
    headers = {} if header is None else {"X-Signature": header.format(sig=_sign(body, KEY, "raw", "hex"))}
    response = harness.post(connection.id, body, vendor=VENDOR, sign=False, headers=headers)
    assert response.status_code == 401
    assert reason in response.get_json()["detail"]


def test_sign_produces_the_default_reading():
    body = b"payload=%7B%22id%22%3A%22x%22%7D"
    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    headers = lightspeed.sign(body, "https://bridge.example.com/hooks/c", "secret")
    assert headers == {"Content-Type": "application/x-www-form-urlencoded",
                       "X-Signature": f"signature={expected},algorithm=HMAC-SHA256"}


def test_either_client_secret_verifies_during_rotation(harness):
    connection = connect(harness, signing_keys=("old-client-secret", KEY))
    assert post(harness, connection, "sale.update.closed").status_code == 202


def test_fixture_body_is_the_form_lightspeed_sends():
    body = fixture_request_body(VENDOR, "sale.update.closed")
    assert body.startswith(b"payload=%7B")
    [payload] = parse_qs(body.decode())["payload"]
    assert json.loads(payload) == fixture("sale.update.closed")


def test_a_form_without_payload_is_400(harness):
    connection = connect(harness)
    body = urlencode({"domain_prefix": "myshop"}).encode()
    response = harness.post(connection.id, body, vendor=VENDOR, signing_key=KEY)
    assert response.status_code == 400
    assert "payload" in response.get_json()["detail"]


def test_json_content_type_is_415(harness):
    connection = connect(harness)
    response = harness.post(connection.id, fixture_bytes(VENDOR, "sale.update.closed"), vendor=VENDOR,
                            signing_key=KEY, headers={"Content-Type": "application/json"})
    assert response.status_code == 415


# -- event id and versions -----------------------------------------------------
def test_event_id_is_sale_id_and_version():
    request = InboundRequest(body=fixture_request_body(VENDOR, "sale.update.closed"), headers={}, url="u")
    assert lightspeed.event_id(request, None) == f"{CLOSED_ID}:7521704"


def test_an_older_version_arriving_late_is_stale_and_never_moves_the_sale_back(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.closed", mutate=changed(version=7521790))
    post(harness, connection, "sale.update.closed")  # version 7521704, delayed retry
    harness.drain()
    late = harness.events()[1]
    assert late.status == "skipped" and "stale: version 7521704" in late.reason
    [award] = harness.ledger()
    assert award["amount"] == 7300
    [tx] = harness.transactions()
    assert tx.source_version == 7521790


def test_a_late_closed_version_after_the_void_does_not_award(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.voided")
    post(harness, connection, "sale.update.closed")
    harness.drain()
    assert harness.ledger() == []


# -- statuses -------------------------------------------------------------------
def test_closed_sale_awards_total_price_plus_tax_once(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.closed")
    harness.drain()
    [award] = harness.ledger()
    assert (award["customer_id"], award["amount"], award["points"]) == ("cus_alice", 7300, 73)
    [tx] = harness.transactions()
    assert (tx.kind, tx.amount_minor, tx.currency, tx.reference) == ("sale", 7300, "NZD", "1042")
    assert tx.source_id == CLOSED_ID and tx.source_version == 7521704
    assert tx.customer_barcode == "Alice-9SD2" and tx.customer_name == "Alice Martin"
    # "2017-12-06 04:30:36": no zone, UTC (Spec 2.0)
    assert tx.occurred_at.replace(tzinfo=UTC) == datetime(2017, 12, 6, 4, 30, 36, tzinfo=UTC)


def test_include_tax_false_awards_the_tax_exclusive_total(harness):
    connection = connect(harness, settings={"include_tax": "false"})
    post(harness, connection, "sale.update.closed")
    harness.drain()
    assert harness.ledger()[0]["amount"] == 6348  # 63.47826


@pytest.mark.parametrize("currency,price,tax,minor", [
    ("NZD", "9.99500", "1.50500", 1150),  # once: 11.50; rounding each part first gives 11.51
    ("NZD", "10.00500", "0.00000", 1001),  # half-up, not half-even
    ("JPY", "1363.63636", "136.36364", 1500),
    ("JPY", "100.49999", "0.00001", 101),
    ("KWD", "12.34560", "1.00005", 13346),
])
def test_amount_is_summed_as_decimal_and_rounded_once_half_up(harness, currency, price, tax, minor):
    connection = connect(harness, currency=currency)
    post(harness, connection, "sale.update.closed", mutate=changed(totals={"total_price": price, "total_tax": tax}))
    harness.drain()
    [tx] = harness.transactions()
    assert (tx.amount_minor, tx.currency) == (minor, currency)


@pytest.mark.parametrize("field,value", [
    ("sale_date", "2017-12-06 04:30:36"),
    ("sale_date", "2017-12-06T04:30:36Z"),
    ("sale_date", "2017-12-06T04:30:36+00:00"),
    ("sale_date", "2017-12-06T17:30:36+13:00"),
    ("created_at", "2017-12-06 04:30:36"),
])
def test_the_three_timestamp_formats_read_as_the_same_utc_instant(harness, field, value):
    def mutate(doc):
        doc.pop("sale_date")
        doc[field] = value
    connection = connect(harness)
    post(harness, connection, "sale.update.closed", mutate=mutate)
    harness.drain()
    [tx] = harness.transactions()
    assert tx.occurred_at.replace(tzinfo=UTC) == datetime(2017, 12, 6, 4, 30, 36, tzinfo=UTC)


@pytest.mark.parametrize("status", ["CLOSED", "ONACCOUNT_CLOSED", "LAYBY_CLOSED", "DISPATCHED_CLOSED",
                                    "PICKED_UP_CLOSED", "SERVICE_CLOSED"])
def test_every_completed_status_awards(harness, status):
    connection = connect(harness)
    post(harness, connection, "sale.update.closed", mutate=changed(status=status))
    harness.drain()
    assert len(harness.ledger()) == 1


@pytest.mark.parametrize("status", ["SAVED", "OPEN", "ONACCOUNT", "LAYBY", "AWAITING_DISPATCH",
                                    "AWAITING_PICKUP", "SERVICE"])
def test_every_unfinished_status_is_skipped_with_the_reason(harness, status):
    connection = connect(harness)
    post(harness, connection, "sale.update.closed", mutate=changed(status=status))
    harness.drain()
    [event] = harness.events()
    assert event.status == "skipped" and status in event.reason
    assert harness.ledger() == [] and harness.transactions() == []


def _dated_shape(doc):
    """The dated API's sale (Spec 2026-07): state, totals{price,tax}, return{}, _metadata.version."""
    doc.pop("status")
    doc["state"] = "closed"
    totals = doc["totals"]
    doc["totals"] = {"price": totals["total_price"], "tax": totals["total_tax"]}
    doc["_metadata"] = {"version": doc.pop("version")}
    doc["line_items"] = doc.pop("register_sale_products")
    doc.pop("invoice_number")
    if "return_for" in doc:
        doc["return"] = {"is_return": True, "original_sale_id": doc.pop("return_for")}


def test_the_dated_api_sale_shape_reads_the_same(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.closed", mutate=_dated_shape)
    post(harness, connection, "sale.update.return-partial", mutate=_dated_shape)
    harness.drain()
    sale, refund = harness.transactions()
    assert (sale.kind, sale.amount_minor, sale.source_version) == ("sale", 7300, 7521704)
    assert (refund.kind, refund.refund_of, refund.amount_minor) == ("refund", CLOSED_ID, 2500)


def test_repeated_layby_sale_updates_award_once(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.layby-open")
    post(harness, connection, "sale.update.layby-open",
         mutate=changed(version=7522200, totals={"total_payment": "60.00000", "total_to_pay": "40.00000"}))
    post(harness, connection, "sale.update.layby-closed")
    post(harness, connection, "sale.update.layby-closed", mutate=changed(version=7523400, note="gift wrapped"))
    harness.drain()
    assert statuses(harness) == ["skipped", "skipped", "delivered", "delivered"]
    [award] = harness.ledger()
    assert (award["customer_id"], award["amount"]) == ("cus_bob", 10000)
    [tx] = harness.transactions()
    assert award["idempotency_key"] == tx.idempotency_key and tx.source_version == 7523400


def test_walk_in_sale_is_unmatched_not_awarded_to_the_walk_in(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.walk-in")
    harness.drain()
    [tx] = harness.transactions()
    assert tx.status == "unmatched"
    assert (tx.customer_email, tx.customer_phone, tx.customer_barcode, tx.vendor_customer_id) == (None,) * 4
    assert harness.ledger() == []


def test_walk_in_sale_given_a_customer_later_is_delivered_under_the_same_key(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.walk-in")
    alice = fixture("sale.update.closed")["customer"]
    post(harness, connection, "sale.update.walk-in",
         mutate=changed(version=7521850, customer=alice, customer_id=alice["id"]))
    harness.drain()
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_alice"
    assert len(harness.transactions()) == 1


def test_parked_sale_is_skipped_then_awards_when_closed(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.parked")
    harness.drain()
    [event] = harness.events()
    assert event.status == "skipped" and "SAVED (parked)" in event.reason
    post(harness, connection, "sale.update.parked", mutate=changed(
        status="CLOSED", version=7522050, totals={"total_payment": "25.00000", "total_to_pay": "0.00000"}))
    harness.drain()
    [award] = harness.ledger()
    assert (award["customer_id"], award["amount"]) == ("cus_bob", 2500)


# -- voids and returns ---------------------------------------------------------
def test_voided_after_award_is_a_reversal_skipped_by_default(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.closed")
    post(harness, connection, "sale.update.voided")
    harness.drain()
    assert len(harness.ledger()) == 1
    sale, void = harness.transactions()
    assert (void.kind, void.source_id, void.refund_of, void.amount_minor) == ("void", CLOSED_ID, CLOSED_ID, 7300)
    assert void.status == "skipped" and "no reversal API" in void.reason
    assert sale.status == "delivered"


def test_voided_after_award_takes_the_points_back_when_asked(harness):
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "sale.update.closed")
    post(harness, connection, "sale.update.voided")
    harness.drain()
    sale, void = harness.ledger()
    assert (sale["amount"], void["amount"]) == (7300, -7300)
    assert void["customer_id"] == sale["customer_id"] == "cus_alice"


def test_a_sale_voided_before_it_closed_takes_nothing_back(harness):
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "sale.update.parked")
    post(harness, connection, "sale.update.parked", mutate=changed(status="VOIDED", version=7522060))
    harness.drain()
    assert harness.ledger() == []
    [void] = harness.transactions()
    assert void.kind == "void" and void.status == "unmatched"


def test_partial_return_is_a_refund_keyed_on_the_returns_own_id(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.closed")
    post(harness, connection, "sale.update.return-partial")
    harness.drain()
    sale, refund = harness.transactions()
    assert sale.status == "delivered"
    assert (refund.kind, refund.source_id, refund.refund_of) == ("refund", RETURN_ID, CLOSED_ID)
    assert refund.amount_minor == 2500  # -21.73913 + -3.26087, deducted, never abs() and awarded
    assert refund.status == "skipped" and "no reversal API" in refund.reason
    assert len(harness.ledger()) == 1


def test_partial_return_deducts_when_asked(harness):
    connection = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    post(harness, connection, "sale.update.closed")
    post(harness, connection, "sale.update.return-partial")
    harness.drain()
    sale, refund = harness.ledger()
    assert (sale["amount"], refund["amount"]) == (7300, -2500)
    assert refund["customer_id"] == "cus_alice"


def test_a_return_without_return_for_is_still_a_refund(harness):
    connection = connect(harness)
    post(harness, connection, "sale.update.return-partial", mutate=lambda doc: doc.pop("return_for"))
    harness.drain()
    [refund] = harness.transactions()
    assert (refund.kind, refund.refund_of, refund.amount_minor) == ("refund", None, 2500)


# -- customers -----------------------------------------------------------------
def test_phone_only_customer_awards_in_aud_through_cockato(harness):
    connection = connect(harness, target="cockato", country="AU", currency="AUD")
    post(harness, connection, "sale.update.phone-only")
    harness.drain()
    [award] = harness.ledger()
    assert (award["customer_id"], award["amount"], award["currency"]) == ("cus_alice", 4496, "AUD")
    [tx] = harness.transactions()
    assert (tx.customer_email, tx.customer_phone) == (None, "+61412345678")  # from "0412 345 678"


@pytest.mark.parametrize("name,reason", [
    ("customer.update.balance-changed", "customer.update carries no sale"),
    ("product.update.official", "product.update carries no sale"),
])
def test_customer_and_product_updates_are_skipped_with_the_reason(harness, name, reason):
    connection = connect(harness)
    assert post(harness, connection, name).status_code == 202
    harness.drain()
    [event] = harness.events()
    assert (event.status, event.event_type) == ("skipped", name.rsplit(".", 1)[0])
    assert reason in event.reason


# -- the retailer's API: unsigned connections and tokens ------------------------
def api_sale(**fields):
    """The sale as API 2.0's GET /sales/{id} shows it (Spec 2.0 example shape)."""
    sale = {"id": REFETCH_ID, "outlet_id": "b1e04bd8-f019-11e3-a0f5-b8ca3a64f8f4",
            "register_id": "0adaafb3-6583-11e5-fb60-c4a1d0e3f1a4", "customer_id": BOB_ID,
            "invoice_number": "1048", "receipt_number": "1048", "status": "CLOSED", "short_code": "hgfdsa",
            "return_for": None, "total_price": 50, "total_tax": 7.5, "total_loyalty": 0,
            "sale_date": "2017-12-06T04:30:36+00:00", "created_at": "2017-12-06T04:30:39+00:00",
            "updated_at": "2017-12-06T04:30:39+00:00", "version": 7524560, "line_items": [], "payments": []}
    sale.update(fields)
    return {"data": sale}


BOB = {"data": {"id": BOB_ID, "customer_code": "Bob-4KQ7", "first_name": "Bob", "last_name": "Chen",
                "email": "bob@example.com", "mobile": None, "phone": None, "enable_loyalty": True}}
RETAILER = {"data": {"id": "r1", "domain_prefix": "myshop", "currency": {"code": "NZD", "symbol": "$"},
                     "country": "NZ", "tax_exclusive": True}}


def unsigned(harness, **kwargs):
    kwargs.setdefault("settings", {"auth": "unsigned", "api_base_url": API})
    return harness.add_connection(vendor=VENDOR, signing_keys=(), vendor_token=TOKEN, **kwargs)


def _api(respx_mock, sale=None):
    return {
        "sale": respx_mock.get(f"/api/2.0/sales/{REFETCH_ID}").mock(
            return_value=httpx.Response(200, json=sale or api_sale())),
        "customer": respx_mock.get(f"/api/2.0/customers/{BOB_ID}").mock(return_value=httpx.Response(200, json=BOB)),
        "retailer": respx_mock.get("/api/2.0/retailer").mock(return_value=httpx.Response(200, json=RETAILER)),
    }


@respx.mock(base_url=API, assert_all_called=True)
def test_unsigned_connection_refetches_the_sale_and_awards_what_the_api_says(respx_mock, harness):
    routes = _api(respx_mock)
    connection = unsigned(harness)
    response = post(harness, connection, "sale.update.unsigned-refetch",
                    mutate=changed(totals={"total_price": "99999.00000"}))  # a forged body changes nothing
    assert response.status_code == 202
    harness.drain()
    [award] = harness.ledger()
    assert (award["customer_id"], award["amount"]) == ("cus_bob", 5750)  # API: 50 + 7.5, not the webhook's 69
    [tx] = harness.transactions()
    assert (tx.currency, tx.source_version, tx.location_id) == ("NZD", 7524560, "b1e04bd8-f019-11e3-a0f5-b8ca3a64f8f4")
    assert routes["sale"].calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


@respx.mock(base_url=API)
def test_retailer_currency_is_fetched_once_and_cached(respx_mock, harness):
    routes = _api(respx_mock)
    other = "06bf5d6c-da69-11e7-f2ba-5d5a1f64e999"
    respx_mock.get(f"/api/2.0/sales/{other}").mock(return_value=httpx.Response(200, json=api_sale(id=other)))
    connection = unsigned(harness)
    post(harness, connection, "sale.update.unsigned-refetch")
    post(harness, connection, "sale.update.unsigned-refetch", mutate=changed(id=other))
    harness.drain()
    assert len(harness.ledger()) == 2
    assert routes["retailer"].call_count == 1


@respx.mock(base_url=API, assert_all_called=False)
def test_connection_currency_wins_and_needs_no_retailer_call(respx_mock, harness):
    routes = _api(respx_mock)
    connection = unsigned(harness, currency="AUD")
    post(harness, connection, "sale.update.unsigned-refetch")
    harness.drain()
    assert harness.transactions()[0].currency == "AUD"
    assert routes["retailer"].call_count == 0


@respx.mock(assert_all_called=True)
def test_default_api_host_is_the_retailers_domain_prefix(respx_mock, harness):
    host = "https://myshop.retail.lightspeed.app"
    respx_mock.get(f"{host}/api/2.0/sales/{REFETCH_ID}").mock(return_value=httpx.Response(200, json=api_sale()))
    respx_mock.get(f"{host}/api/2.0/customers/{BOB_ID}").mock(return_value=httpx.Response(200, json=BOB))
    connection = connect(harness, vendor_token=TOKEN, settings={"domain_prefix": "myshop"})
    post(harness, connection, "sale.update.unsigned-refetch")
    harness.drain()
    assert len(harness.ledger()) == 1


@respx.mock(base_url=API)
def test_api_404_means_no_completed_sale_and_nothing_awards(respx_mock, harness):
    respx_mock.get(f"/api/2.0/sales/{REFETCH_ID}").mock(return_value=httpx.Response(404, json={"error": "nf"}))
    connection = unsigned(harness)
    post(harness, connection, "sale.update.unsigned-refetch")
    harness.drain()
    [event] = harness.events()
    assert event.status == "skipped" and "no completed sale" in event.reason
    assert harness.ledger() == []


@respx.mock(base_url=API)
def test_api_saying_voided_beats_a_webhook_saying_closed(respx_mock, harness):
    _api(respx_mock, sale=api_sale(status="VOIDED"))
    connection = unsigned(harness)
    post(harness, connection, "sale.update.unsigned-refetch")
    harness.drain()
    assert harness.ledger() == []
    [tx] = harness.transactions()
    assert tx.kind == "void"


@respx.mock(base_url=API)
def test_api_429_retries_the_event_later(respx_mock, harness):
    routes = _api(respx_mock)
    routes["sale"].side_effect = [httpx.Response(429, headers={"Retry-After": "7"}),
                                  httpx.Response(200, json=api_sale())]
    connection = unsigned(harness)
    post(harness, connection, "sale.update.unsigned-refetch")
    harness.drain()
    [event] = harness.events()
    assert event.status == "received" and "429" in event.reason and "7 s" in event.reason
    harness.make_due()
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1
    assert routes["sale"].call_count == 2


@respx.mock(base_url=API)
def test_a_refused_token_is_skipped_with_what_to_do(respx_mock, harness):
    respx_mock.get(f"/api/2.0/sales/{REFETCH_ID}").mock(return_value=httpx.Response(401))
    connection = unsigned(harness)
    post(harness, connection, "sale.update.unsigned-refetch")
    harness.drain()
    [event] = harness.events()
    assert event.status == "skipped" and "refused the connection's token (401)" in event.reason


@respx.mock(base_url=API)
def test_a_payload_with_only_the_sale_id_and_a_type_field_is_fetched(respx_mock, harness):
    _api(respx_mock)
    connection = unsigned(harness)
    body = urlencode({"type": "sale.update", "payload": json.dumps({"id": REFETCH_ID, "version": 7524555})}).encode()
    assert harness.post(connection.id, body, vendor=VENDOR).status_code == 202
    harness.drain()
    assert len(harness.ledger()) == 1


def test_a_payload_with_only_the_sale_id_without_a_token_says_what_to_do(harness):
    connection = connect(harness)
    body = urlencode({"type": "sale.update", "payload": json.dumps({"id": REFETCH_ID, "version": 7524555})}).encode()
    harness.post(connection.id, body, vendor=VENDOR, signing_key=KEY)
    harness.drain()
    [event] = harness.events()
    assert event.status == "skipped" and "token" in event.reason


def test_an_unsigned_request_is_accepted_only_on_an_unsigned_connection(harness):
    signed, open_ = connect(harness), unsigned(harness)
    body = fixture_request_body(VENDOR, "sale.update.unsigned-refetch")
    assert harness.post(signed.id, body, vendor=VENDOR, sign=False).status_code == 401
    assert harness.post(open_.id, body, vendor=VENDOR, sign=False).status_code == 202


# -- connections -----------------------------------------------------------------
@pytest.mark.parametrize("kwargs,message", [
    ({"signing_keys": (), "vendor_token": None, "settings": {"auth": "unsigned"}}, "needs --vendor-token"),
    ({"signing_keys": (), "settings": {}}, "pass --signing-key"),
    ({"currency": None}, "carry no currency"),
    ({"vendor_token": TOKEN, "settings": {}}, "domain_prefix"),
    ({"settings": {"auth": "hmac"}}, "auth must be signed or unsigned"),
])
def test_connections_that_could_never_work_are_refused_at_creation(harness, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        connect(harness, **kwargs)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "https://pos.example.com")
    monkeypatch.delenv("REDIS_URL", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["connections", "add", "--vendor", "vend", "--name", "Shop",
                                              "--target", "xtarly", "--target-url",
                                              "http://127.0.0.1:8000/sandbox/xtarly",
                                              "--target-key", "xtarly_pos_demo", *args])


def test_vend_is_an_alias_of_lightspeed(cli):
    assert registry.canonical_slug("vend") == "lightspeed"
    assert registry.get("vend").display_name == "Lightspeed X-Series"
    result = cli("--signing-key", "secret", "--currency", "NZD")
    assert result.exit_code == 0, result.output
    assert "created a Lightspeed X-Series connection" in result.output
    made = json.loads(cli("--signing-key", "secret", "--currency", "NZD", "--json").output)
    assert made["vendor"] == "lightspeed"


def test_cli_refuses_an_unsigned_connection_without_a_token(cli):
    result = cli("--set", "auth=unsigned", "--currency", "NZD")
    assert result.exit_code == 2
    assert "needs --vendor-token" in result.output and "Traceback" not in result.output
