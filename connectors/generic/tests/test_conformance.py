"""The shared conformance suite, in both auth modes."""

from __future__ import annotations

from connectors.generic.tests.posting import SECRET
from tests.conformance import ConnectorConformance

EXPECTATIONS = {
    "sale.json-amount": "award",
    "sale.amount-minor-default-currency": "award",
    "sale.zapier-strings": "award",
    "sale.backfill": "award",
    "sale.jpy": "award",
    "sale.phone-only": "unmatched",  # Xtarly matches by email only
    "sale.barcode-only": "unmatched",
    "refund.of-sale": "skipped",  # default: the target has no reversal API
    "test.zapier-test": "skipped",
}


class TestGenericConformance(ConnectorConformance):
    vendor = "generic"
    award_fixture = "sale.json-amount"
    unknown_type_fixture = "test.zapier-test"
    expectations = EXPECTATIONS
    signing_key = SECRET
    settings: dict[str, str] = {}

    def connect(self, harness, **kwargs):
        kwargs.setdefault("currency", "AUD")
        kwargs.setdefault("country", "AU")
        kwargs.setdefault("settings", dict(self.settings))
        return super().connect(harness, **kwargs)

    def test_unknown_event_type_is_2xx_and_skipped(self, harness):
        """Generic bodies carry no vendor event type: every request is a sale or
        a refund. The analogue of "a type we don't handle" is `test: true` (a
        Zap's test run, a till being set up): answered 2xx, stored, skipped,
        nothing awarded."""
        connection = self.connect(harness)
        response = self.post(harness, connection, self.unknown_type_fixture)
        assert response.status_code == 202 and response.get_json()["test"] is True
        harness.drain()
        [event] = harness.events()
        assert event.status == "skipped" and "test" in event.reason
        assert harness.ledger() == []


class TestGenericSignedConformance(TestGenericConformance):
    """The same suite with auth=signature: Standard Webhooks headers instead of a bearer key."""

    settings = {"auth": "signature"}
