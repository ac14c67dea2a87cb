"""The canonical model, money, identities, durations, retry schedule, sealing."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from bridge.durations import parse_duration
from bridge.errors import ConfigError, PayloadError
from bridge.identity import normalize_email, normalize_phone
from bridge.model import Kind, Transaction, idempotency_key
from bridge.money import currency_exponent, format_minor, to_minor
from bridge.outcome import parse_retry_after
from bridge.retry import CAP_SECONDS, next_attempt, retry_delay
from bridge.store.sealing import Sealer, mask


@pytest.mark.parametrize("code, exponent", [("JPY", 0), ("USD", 2), ("EUR", 2), ("KWD", 3), ("BHD", 3), ("CLP", 0)])
def test_currency_exponents_come_from_iso_4217(code, exponent):
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("amount, currency, minor", [
    ("19.99", "USD", 1999), ("1650", "JPY", 1650), ("1.234", "KWD", 1234), ("0.5", "USD", 50), ("-3.10", "AUD", -310),
])
def test_to_minor_uses_the_real_exponent(amount, currency, minor):
    assert to_minor(amount, currency) == minor


def test_to_minor_refuses_floats_extra_decimals_and_unknown_currencies():
    with pytest.raises(TypeError):
        to_minor(19.99, "USD")
    with pytest.raises(PayloadError, match="more decimals"):
        to_minor("1.5", "JPY")
    with pytest.raises(PayloadError, match="unknown currency"):
        to_minor("1", "XYZ")
    with pytest.raises(PayloadError, match="no minor unit"):
        to_minor("1", "XAU")


@given(st.integers(min_value=-10**12, max_value=10**12), st.sampled_from(["USD", "JPY", "KWD"]))
def test_minor_units_round_trip_through_their_decimal_form(minor, currency):
    assert to_minor(format_minor(minor, currency).split()[0], currency) == minor


def test_idempotency_key_depends_on_the_sale_not_the_event():
    key = idempotency_key("con_1", "square", "pay_1", Kind.SALE)
    assert key == idempotency_key("con_1", "square", "pay_1", "sale")
    assert len({key, idempotency_key("con_2", "square", "pay_1", Kind.SALE),
                idempotency_key("con_1", "square", "pay_1", Kind.REFUND),
                idempotency_key("con_1", "square", "pay_2", Kind.SALE)}) == 4


def test_transaction_insists_on_int_amounts_and_aware_times():
    base = dict(connection_id="c", vendor="square", source_id="p", kind=Kind.SALE, currency="USD")
    with pytest.raises(TypeError):
        Transaction(amount_minor=Decimal("1.00"), occurred_at=datetime.now(timezone.utc), **base)
    with pytest.raises(ValueError):
        Transaction(amount_minor=100, occurred_at=datetime(2026, 1, 1), **base)
    local = datetime(2026, 1, 1, 10, tzinfo=timezone(timedelta(hours=10)))
    assert Transaction(amount_minor=100, occurred_at=local, **base).occurred_at.hour == 0


@pytest.mark.parametrize("raw, country, e164", [
    ("0412345678", "AU", "+61412345678"), ("+61412345678", None, "+61412345678"),
    ("(415) 555-2671", "US", "+14155552671"), ("not a phone", "US", None), ("12", "AU", None), ("", "AU", None),
])
def test_phones_are_normalised_to_e164(raw, country, e164):
    assert normalize_phone(raw, country) == e164


def test_emails_are_lower_cased_and_junk_dropped():
    assert normalize_email(" Alice@Example.COM ") == "alice@example.com"
    assert normalize_email("nobody") is None


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("15m", 900), ("6h", 21600), ("2d", 172800), ("45", 45)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_bad_duration_says_how_to_write_one():
    with pytest.raises(ValueError, match="30s, 15m"):
        parse_duration("soon")


def test_first_three_retries_come_within_the_first_minute():
    rand = random.Random(7)
    for _ in range(200):
        assert sum(retry_delay(n, rand=rand) for n in (1, 2, 3)) < 60


@given(st.integers(min_value=1, max_value=200), st.one_of(st.none(), st.floats(min_value=0, max_value=10**6)))
def test_retry_delays_grow_to_the_cap_and_honour_retry_after(failures, retry_after):
    delay = retry_delay(failures, retry_after, rand=random.Random(failures))
    assert 0 < delay <= CAP_SECONDS
    if retry_after is not None:
        assert delay >= min(retry_after, CAP_SECONDS)


def test_retry_budget_ends_the_schedule():
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert next_attempt(start, start, 1, budget_seconds=3600) is not None
    assert next_attempt(start + timedelta(hours=1), start, 10, budget_seconds=3600) is None


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Tue, 01 Dec 2026 12:02:00 GMT", now=now) == 120
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_secrets_are_encrypted_when_a_key_is_set():
    from cryptography.fernet import Fernet

    sealer = Sealer(Fernet.generate_key().decode())
    sealed = sealer.seal("xtarly_pos_secret")
    assert "xtarly_pos_secret" not in sealed and sealer.open(sealed) == "xtarly_pos_secret"
    assert Sealer(None).open(Sealer(None).seal("plain")) == "plain"
    with pytest.raises(ConfigError, match="BRIDGE_SECRET_KEY is not set"):
        Sealer(None).open(sealed)
    with pytest.raises(ConfigError, match="not a Fernet key"):
        Sealer("short")
    assert mask("xtarly_pos_secret") == "…cret"
