"""What a receipt shows, stored with each transaction (issue #13 part 2)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import inspect

from bridge import connections
from bridge.errors import ConfigError

LS_KEY = "test-signature-key"


def test_square_stores_receipt_number_local_date_and_the_printed_total(harness):
    connection = harness.add_connection(settings={"timezone": "Pacific/Kiritimati"})  # UTC+14
    harness.post_fixture(connection.id, "payment.updated.completed")  # created 2026-11-28T14:02Z
    harness.drain()
    [tx] = harness.transactions()
    assert (tx.reference, tx.receipt_key, tx.local_date) == ("Hx7k", "HX7K", date(2026, 11, 29))
    assert (tx.amount_minor, tx.receipt_total_minor) == (1999, 2299)  # total_money has the $3 tip


def test_without_a_time_zone_the_local_date_is_the_utc_date(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    assert harness.transactions()[0].local_date == date(2026, 11, 28)


def test_lightspeed_stores_the_invoice_number_and_the_total(harness):
    connection = harness.add_connection(vendor="lightspeed", signing_keys=(LS_KEY,), currency="NZD",
                                        settings={"timezone": "Pacific/Auckland"})
    harness.post_fixture(connection.id, "sale.update.closed", vendor="lightspeed", signing_key=LS_KEY)
    harness.drain()
    [tx] = harness.transactions()
    assert tx.reference and tx.local_date is not None
    assert tx.receipt_total_minor == tx.amount_minor > 0


def test_toast_stores_display_number_and_its_business_date(harness):
    connection = harness.add_connection(vendor="toast", signing_keys=("orders-secret",), currency="USD",
                                        country="US")
    harness.post_fixture(connection.id, "order_updated.paid", vendor="toast", signing_key="orders-secret")
    harness.drain()
    [tx] = harness.transactions()
    assert (tx.reference, tx.local_date, tx.receipt_total_minor) == ("42", date(2026, 3, 28), 3485)


def test_generic_stores_its_reference(harness):
    from connectors.generic.tests import posting

    connection = posting.connect(harness)
    posting.post(harness, connection)
    harness.drain()
    [tx] = harness.transactions()
    assert (tx.reference, tx.receipt_total_minor) == ("R-1001", 1999)


def test_an_unknown_time_zone_is_refused_with_a_clear_message(harness):
    with pytest.raises(ConfigError, match="unknown timezone 'Mars/Olympus'"):
        harness.add_connection(settings={"timezone": "Mars/Olympus"})
    connection = harness.add_connection()
    with pytest.raises(ConfigError, match="IANA"):
        connections.set_settings(harness.db, connection.id, {"timezone": "nowhere"})


@pytest.mark.services
def test_the_claim_lookup_is_one_index_on_postgresql(pg_harness):
    indexes = {ix["name"]: ix["column_names"]
               for ix in inspect(pg_harness.db.engine).get_indexes("transactions")}
    assert indexes["ix_transactions_receipt"] == ["connection_id", "receipt_key", "local_date"]


def test_the_receipt_key_ignores_case_spaces_and_a_leading_hash():
    from bridge.receipts import receipt_key

    assert receipt_key("Hx7k") == receipt_key(" hx7K ") == receipt_key("#HX 7K") == "HX7K"
    assert receipt_key(None) is None and receipt_key("#") is None
