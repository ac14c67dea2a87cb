"""Every validation error: 422 problem+json, each fix at its pointer, and one
sentence (`detail`, copied into `message`) that lists them all."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from connectors.generic.tests.posting import SALE, connect, post

WITHOUT = object()


def _with(**changes):
    body = dict(SALE)
    for name, value in changes.items():
        if value is WITHOUT:
            body.pop(name, None)
        else:
            body[name] = value
    return body


CASES = [
    # (body, pointer, words the fix must contain)
    (_with(reference=WITHOUT), "#/reference", "required: send the sale's receipt or order number"),
    (_with(reference=""), "#/reference", "required"),
    (_with(reference="x" * 256), "#/reference", "at most 255 characters"),
    (_with(reference=["R-1"]), "#/reference", "a single value, not a list"),
    (_with(reference=True), "#/reference", "send text, not true or false"),
    (_with(reference="R\n1"), "#/reference", "control characters"),
    (_with(amount=WITHOUT), "#/amount", "required: send amount in major units, like 12.50, or amount_minor"),
    (_with(amount_minor="1999"), "#/amount_minor", "send amount or amount_minor, not both"),
    (_with(amount="$12.50"), "#/amount", "no currency sign"),
    (_with(amount="12.50 AUD"), "#/amount", "no currency sign or code"),
    (_with(amount="1,234.50"), "#/amount", "dot for decimals and no thousands separators"),
    (_with(amount="12,50"), "#/amount", "dot for decimals"),
    (_with(amount="1.5e3"), "#/amount", "without an exponent"),
    (_with(amount="-5.00"), "#/amount", "kind=refund with a positive amount"),
    (_with(amount=-5), "#/amount", "kind=refund with a positive amount"),
    (_with(amount="12.345"), "#/amount", "AUD has 2 decimals: send 12.35, not 12.345"),
    (_with(amount="12.5.0"), "#/amount", "digits and at most one dot"),
    (_with(amount=True), "#/amount", "use a number like 12.50"),
    (_with(amount="1" * 20), "#/amount", "too large"),
    (_with(amount="1650.5", currency="JPY"), "#/amount", "JPY has no decimals: send 1651"),
    (_with(amount=WITHOUT, amount_minor="12.50"), "#/amount_minor", "whole number of minor units"),
    (_with(amount=WITHOUT, amount_minor=1250.5), "#/amount_minor", "whole number of minor units"),
    (_with(amount=WITHOUT, amount_minor="-100"), "#/amount_minor", "0 or more"),
    (_with(amount=WITHOUT, amount_minor="99999999999999999"), "#/amount_minor", "too large"),
    (_with(amount=WITHOUT, amount_minor=10**15), "#/amount_minor", "too large"),
    (_with(currency="AUS"), "#/currency", "'AUS' is not an ISO 4217 currency code"),
    (_with(currency="XAU"), "#/currency", "no minor unit"),
    (_with(email=WITHOUT), "#", "send email, phone, barcode or customer_id"),
    (_with(email=WITHOUT, emial="a@example.com"), "#", "did you mean email?"),
    (_with(email="alice.example.com"), "#/email", "not an email address"),
    (_with(email=WITHOUT, phone="12"), "#/phone", "not a valid phone number: send it in E.164"),
    (_with(email=WITHOUT, barcode="x" * 129), "#/barcode", "at most 128 characters"),
    (_with(kind="void"), "#/kind", "use sale or refund"),
    (_with(refund_of="R-0001"), "#/refund_of", "only for refunds"),
    (_with(kind="refund", refund_of="R-1001"), "#/refund_of", "a reference of its own"),
    (_with(kind="refund", email=WITHOUT), "#", "refund_of instead"),
    (_with(occurred_at="yesterday"), "#/occurred_at", "RFC 3339"),
    (_with(occurred_at="1714537800000"), "#/occurred_at", "milliseconds"),
    (_with(occurred_at="1999-12-31T23:00:00Z"), "#/occurred_at", "before 2000"),
    (_with(occurred_at="2999-01-01T00:00:00Z"), "#/occurred_at", "in the future"),
    (_with(occurred_at={"date": "2024-05-01"}), "#/occurred_at", "RFC 3339"),
    (_with(metadata=["a"]), "#/metadata", "an object of text values"),
    (_with(metadata="till=2"), "#/metadata", "metadata__<name>"),
    (_with(metadata={"k": {"nested": 1}}), "#/metadata/k", "a single value"),
    (_with(metadata={"k": "v" * 501}), "#/metadata/k", "at most 500 characters"),
    (_with(metadata={f"k{i}": "v" for i in range(21)}), "#/metadata", "at most 20 entries"),
    (_with(metadata={"x" * 65: "v"}), "#/metadata", "1 to 64 characters"),
    (_with(test="maybe"), "#/test", "use true or false"),
    (_with(location={"id": 1}), "#/location", "a single value"),
]


@pytest.mark.parametrize("body, pointer, fix", CASES, ids=[f"{p}:{f[:30]}" for _, p, f in CASES])
def test_each_validation_error_says_where_and_what_to_fix(harness, body, pointer, fix):
    connection = connect(harness)
    response = post(harness, connection, body)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "validation_failed"
    assert [error["pointer"] for error in problem["errors"]] == [pointer]
    assert fix in problem["errors"][0]["detail"]
    assert problem["detail"] == problem["message"]
    assert fix in problem["detail"]


def test_currency_is_required_without_a_connection_default(harness):
    connection = connect(harness, currency=None)
    response = post(harness, connection, {k: v for k, v in SALE.items() if k != "currency"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"pointer": "#/currency", "detail":
        "required: send the ISO 4217 code, like AUD (or give the connection a default with --currency)"}]


def test_national_phone_without_a_connection_country_asks_for_one(harness):
    connection = connect(harness, country=None)
    response = post(harness, connection, {"reference": "R-1", "amount": "1.00", "phone": "0412 345 678"})
    assert "needs the connection's --country" in response.get_json()["message"]


def test_naive_time_with_an_unknown_connection_timezone_asks_for_an_offset(harness):
    connection = connect(harness)
    from bridge import connections
    with harness.db.session() as session:  # set after creation, where check_connection does not run
        connections.get(session, connection.id).settings = {"timezone": "Mars/Olympus"}
    response = post(harness, connection, {**SALE, "occurred_at": "2024-05-01 14:30"})
    assert "timezone 'Mars/Olympus' is unknown" in response.get_json()["message"]
    assert post(harness, connection, {**SALE, "occurred_at": "2024-05-01T14:30+10:00"}).status_code == 202


def test_every_fix_is_listed_in_one_sentence(harness):
    connection = connect(harness)
    response = post(harness, connection, {"amount": "$12.50", "emial": "alice@example.com"})
    problem = response.get_json()
    assert [e["pointer"] for e in problem["errors"]] == ["#/reference", "#/amount", "#"]
    assert problem["detail"] == (
        "reference: required: send the sale's receipt or order number, unique per sale; "
        "amount: send only the number, like 12.50, with no currency sign or code (the code goes in currency); "
        "body: send email, phone, barcode or customer_id so the loyalty platform can find the customer "
        "(the body has 'emial': did you mean email?)")
    assert problem["message"] == problem["detail"]


def test_a_field_sent_twice_with_different_values_is_refused(harness):
    connection = connect(harness)
    body = urlencode([*SALE.items(), ("amount", "29.99")])
    response = post(harness, connection, body, "application/x-www-form-urlencoded")
    assert response.get_json()["errors"] == [
        {"pointer": "#/amount", "detail": "sent more than once with different values: send each field once"}]
    response = post(harness, connection, b'{"reference": "a", "reference": "b", "amount": 1, "email": "a@b.co"}')
    assert response.get_json()["errors"][0]["pointer"] == "#/reference"


@pytest.mark.parametrize("body, fix", [
    (b"{not json", "malformed JSON at line 1 column 2"),
    (b'"just a string"', "send the sale as a JSON object"),
    (b'{"amount": NaN}', "NaN is not a number"),
    (b"[" * 100000, "nested too deeply"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_unreadable_bodies_are_400_shaped_like_validation_errors(harness, body, fix):
    connection = connect(harness)
    response = post(harness, connection, body)
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["code"] == "payload_invalid" and fix in problem["message"]
    assert problem["errors"][0]["pointer"] == "#"


def test_a_rejected_request_is_stored_for_support_and_never_processed(harness):
    connection = connect(harness)
    response = post(harness, connection, {"reference": "R-9", "amount": "abc", "email": "alice@example.com"})
    assert response.status_code == 422
    [event] = harness.events()
    assert event.status == "failed" and event.reason.startswith("rejected: amount:")
    assert b'"abc"' in event.body
    assert not harness.dispatcher.jobs
    harness.drain()
    assert harness.ledger() == []


def test_empty_body_is_400(harness):
    connection = connect(harness)
    assert post(harness, connection, b"").status_code == 400
