"""Every way a flow sends fields: JSON, form (Zapier's default), multipart,
text/plain (Zapier's Raw), flattened keys and string numbers."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from connectors.generic.tests.posting import SALE, connect, post


def _multipart(fields: dict[str, str], files: dict[str, bytes] | None = None) -> tuple[bytes, str]:
    boundary = "----loyaltybridge7MA4YWxkTrZu0gW"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    for name, content in (files or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.txt"\r\n'
                     f"Content-Type: text/plain\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _awarded(harness, amount_minor=1999):
    harness.drain()
    [tx] = harness.transactions()
    assert (tx.amount_minor, tx.currency, tx.customer_email) == (amount_minor, "AUD", "alice@example.com")
    [award] = harness.ledger()
    return tx, award


def test_json_body_awards(harness):
    connection = connect(harness)
    response = post(harness, connection, SALE)
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["status"] == "accepted" and answer["duplicate"] is False
    assert (answer["reference"], answer["amount_minor"], answer["currency"]) == ("R-1001", 1999, "AUD")
    assert answer["ignored_fields"] == [] and answer["test"] is False
    tx, award = _awarded(harness)
    assert award["points"] == 19 and tx.source_id == tx.reference == "R-1001"


def test_form_body_as_zapier_sends_by_default(harness):
    connection = connect(harness)
    response = post(harness, connection, urlencode(SALE), "application/x-www-form-urlencoded")
    assert response.status_code == 202, response.get_json()
    _awarded(harness)


def test_form_body_in_another_charset_label_still_reads_utf8(harness):
    connection = connect(harness)
    body = urlencode({**SALE, "location": "Café Nord"})
    response = post(harness, connection, body, "application/x-www-form-urlencoded; charset=utf-8")
    assert response.status_code == 202
    harness.drain()
    assert harness.transactions()[0].location_id == "Café Nord"


def test_multipart_fields_award_and_files_are_ignored(harness):
    connection = connect(harness)
    body, content_type = _multipart(SALE, files={"receipt": b"%PDF-1.4"})
    response = post(harness, connection, body, content_type)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["ignored_fields"] == ["receipt"]
    _awarded(harness)


def test_multipart_without_boundary_is_400_saying_so(harness):
    connection = connect(harness)
    response = post(harness, connection, b"--x\r\n", "multipart/form-data")
    assert response.status_code == 400
    assert "boundary" in response.get_json()["message"]


def test_text_plain_json_as_zapier_raw_sends(harness):
    connection = connect(harness)
    response = post(harness, connection, json.dumps(SALE), "text/plain")
    assert response.status_code == 202
    _awarded(harness)


def test_text_plain_that_is_not_json_is_400_with_the_fix(harness):
    connection = connect(harness)
    response = post(harness, connection, "reference=R-1", "text/plain")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "payload_invalid" and "must be JSON" in body["message"]
    assert body["errors"][0]["pointer"] == "#"
    [event] = harness.events()
    assert event.status == "failed" and "must be JSON" in event.reason


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml", "application/octet-stream"])
def test_xml_and_other_media_are_415(harness, content_type):
    connection = connect(harness)
    response = post(harness, connection, "<sale><reference>R-1</reference></sale>", content_type)
    assert response.status_code == 415
    assert "application/json" in response.get_json()["detail"]
    assert harness.events() == []


def test_json_sent_with_curls_default_form_content_type_is_read_as_json(harness):
    """`curl -d '{...}'` without -H labels the body form-urlencoded."""
    connection = connect(harness)
    response = post(harness, connection, json.dumps(SALE), "application/x-www-form-urlencoded")
    assert response.status_code == 202
    _awarded(harness)


def test_no_content_type_is_sniffed(harness):
    connection = connect(harness)
    assert post(harness, connection, json.dumps(SALE), content_type=None).status_code == 202
    form = {**SALE, "reference": "R-1002"}
    assert post(harness, connection, urlencode(form), content_type=None).status_code == 202


def test_zapier_flattened_keys_string_numbers_and_dropped_empties(harness):
    connection = connect(harness)
    body = {"reference": "1003", "amount_minor": "4250", "currency": "aud", "email": " Alice@Example.com ",
            "phone": "", "barcode": "", "test": "false", "kind": "Sale",
            "metadata__zap": "Shopify to loyalty", "metadata.order": "#1003", "metadata[till]": "2",
            "Location": "Main St"}
    response = post(harness, connection, urlencode(body), "application/x-www-form-urlencoded")
    assert response.status_code == 202, response.get_json()
    harness.drain()
    [tx] = harness.transactions()
    assert (tx.amount_minor, tx.currency, tx.customer_email, tx.customer_phone) == (
        4250, "AUD", "alice@example.com", None)
    assert tx.extra == {"zap": "Shopify to loyalty", "order": "#1003", "till": "2"}
    assert tx.location_id == "Main St"


def test_metadata_as_object_json_string_or_flat(harness):
    connection = connect(harness)
    for number, metadata in enumerate([{"metadata": {"till": 2, "vip": True}},
                                       {"metadata": '{"till": 2, "vip": true}'},
                                       {"metadata__till": "2", "metadata__vip": "true"}]):
        body = {**SALE, "reference": f"M-{number}", **metadata}
        assert post(harness, connection, body).status_code == 202
    harness.drain()
    assert [tx.extra for tx in harness.transactions()] == [{"till": "2", "vip": "true"}] * 3


def test_json_numbers_are_decimals_never_floats(harness):
    connection = connect(harness)
    body = b'{"reference": "F-1", "amount": 0.29, "currency": "AUD", "email": "alice@example.com"}'
    assert post(harness, connection, body).status_code == 202
    harness.drain()
    assert harness.transactions()[0].amount_minor == 29  # float(0.29) * 100 = 28.999999999999996


def test_zapier_wrap_request_in_array(harness):
    connection = connect(harness)
    assert post(harness, connection, json.dumps([SALE])).status_code == 202
    response = post(harness, connection, json.dumps([SALE, SALE]))
    assert response.status_code == 400 and "one sale per request" in response.get_json()["message"]


def test_unknown_fields_are_echoed_as_ignored(harness):
    connection = connect(harness)
    response = post(harness, connection, {**SALE, "emial": "x@example.com", "tip": "2.00"})
    assert response.status_code == 202
    assert response.get_json()["ignored_fields"] == ["emial", "tip"]


def test_a_bom_before_the_json_is_tolerated(harness):
    connection = connect(harness)
    assert post(harness, connection, b"\xef\xbb\xbf" + json.dumps(SALE).encode()).status_code == 202


def test_occurred_at_is_normalised_in_the_answer_and_the_connection_timezone_applies(harness):
    connection = connect(harness, settings={"timezone": "Australia/Sydney"})
    response = post(harness, connection, {**SALE, "occurred_at": "2024-05-01 14:30:00"})
    assert response.get_json()["occurred_at"] == "2024-05-01T04:30:00Z"
    response = post(harness, connection, {**SALE, "reference": "R-2", "occurred_at": "1714537800"})
    assert response.get_json()["occurred_at"] == "2024-05-01T04:30:00Z"
    response = post(harness, connection, {**SALE, "reference": "R-3", "occurred_at": "2024-05-01T14:30:00+10:00"})
    assert response.get_json()["occurred_at"] == "2024-05-01T04:30:00Z"
    harness.drain()
    assert {tx.occurred_at.isoformat() for tx in harness.transactions()} == {"2024-05-01T04:30:00+00:00"}


def test_phone_in_national_form_uses_the_connection_country(harness):
    connection = connect(harness, target="cockato")
    response = post(harness, connection, {"reference": "P-1", "amount": "20.00", "phone": "0412 345 678"})
    assert response.status_code == 202
    harness.drain()
    [tx] = harness.transactions()
    assert tx.customer_phone == "+61412345678" and tx.status == "delivered"
    assert harness.ledger()[0]["customer_id"] == "cus_alice"


def test_barcode_awards_on_cockato(harness):
    connection = connect(harness, target="cockato")
    response = post(harness, connection, {"reference": "B-1", "amount_minor": 500, "barcode": "LOYAL-0001"})
    assert response.status_code == 202
    harness.drain()
    [award] = harness.ledger()
    assert (award["customer_id"], award["points"], award["reference"]) == ("cus_alice", 5, "B-1")


def test_refund_is_recorded_and_skipped_by_default_and_negative_on_request(harness):
    plain = connect(harness)
    negative = connect(harness, target_key="xtarly_pos_negative", settings={"refunds": "negative"})
    for connection in (plain, negative):
        post(harness, connection, SALE)
        post(harness, connection, {"reference": "RF-1", "kind": "refund", "refund_of": "R-1001", "amount": "19.99"})
    harness.drain()
    refunds = [tx for tx in harness.transactions() if tx.kind == "refund"]
    assert {tx.connection_id: tx.status for tx in refunds} == {plain.id: "skipped", negative.id: "delivered"}
    negative_refund = [a for a in harness.ledger() if a["amount"] < 0]
    assert negative_refund[0]["amount"] == -1999  # identity taken from the sale it reverses


def test_customer_id_is_the_loyalty_platforms_own_id(harness):
    connection = connect(harness)
    response = post(harness, connection, {"reference": "C-1", "amount": "3.00", "customer_id": "cus_bob"})
    assert response.status_code == 202 and "warnings" not in response.get_json()
    harness.drain()
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_bob" and award["points"] == 3
    unknown = post(harness, connection, {"reference": "C-2", "amount": "3.00", "customer_id": "crm-42"})
    assert unknown.status_code == 202
    harness.drain()
    assert harness.transactions()[1].status == "unmatched"
    assert "NOT_FOUND" in harness.transactions()[1].reason
