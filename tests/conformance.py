"""The conformance suite every connector's test class inherits.

A subclass names its vendor, the fixture that awards, and what every fixture
in its folder amounts to; the suite posts them through the real app with real
signatures and runs the real worker code.
"""

from __future__ import annotations

from typing import ClassVar

from bridge import registry
from tests.support import CONNECTORS, fixture_request_body


class ConnectorConformance:
    vendor: ClassVar[str]
    award_fixture: ClassVar[str]  # a sale that awards once on the sandbox's demo customer
    unknown_type_fixture: ClassVar[str]
    # fixture name -> "award" (a sale delivered), "skip" (stored as skipped), or a status
    expectations: ClassVar[dict[str, str]]
    signing_key: ClassVar[str] = "test-signature-key"

    def connect(self, harness, **kwargs):
        return harness.add_connection(vendor=self.vendor, signing_keys=(self.signing_key,), **kwargs)

    def post(self, harness, connection, name, **kwargs):
        kwargs.setdefault("signing_key", self.signing_key)
        return harness.post_fixture(connection.id, name, vendor=self.vendor, **kwargs)

    def test_valid_request_is_stored_and_enqueued(self, harness):
        connection = self.connect(harness)
        response = self.post(harness, connection, self.award_fixture)
        assert response.status_code in (200, 202), response.get_json()
        [event] = harness.events()
        assert event.body == fixture_request_body(self.vendor, self.award_fixture)
        assert list(harness.dispatcher.jobs) == [("process_event", event.id)]

    def test_award_fixture_awards_once(self, harness):
        connection = self.connect(harness)
        self.post(harness, connection, self.award_fixture)
        harness.drain()
        [award] = harness.ledger()
        assert award["points"] > 0
        assert harness.events()[0].status == "delivered"

    def test_bad_signature_is_401_and_nothing_stored(self, harness):
        connection = self.connect(harness)
        response = self.post(harness, connection, self.award_fixture, signing_key="not-the-key")
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert harness.events() == [] and not harness.dispatcher.jobs

    def test_missing_signature_is_401(self, harness):
        connection = self.connect(harness)
        body = fixture_request_body(self.vendor, self.award_fixture)
        response = harness.post(connection.id, body, vendor=self.vendor, sign=False)
        assert response.status_code == 401
        assert harness.events() == []

    def test_unknown_connection_is_404(self, harness):
        body = fixture_request_body(self.vendor, self.award_fixture)
        response = harness.post("con_doesnotexist", body, vendor=self.vendor, signing_key=self.signing_key)
        assert response.status_code == 404
        assert response.get_json()["code"] == "unknown_connection"

    def test_duplicate_event_is_2xx_and_awards_once(self, harness):
        connection = self.connect(harness)
        first = self.post(harness, connection, self.award_fixture)
        second = self.post(harness, connection, self.award_fixture)
        assert first.status_code == 202 and second.status_code == 200
        assert second.get_json()["status"] == "duplicate"
        harness.drain()
        assert len(harness.ledger()) == 1
        assert len(harness.events()) == 1

    def test_unknown_event_type_is_2xx_and_skipped(self, harness):
        connection = self.connect(harness)
        assert self.post(harness, connection, self.unknown_type_fixture).status_code in (200, 202)
        harness.drain()
        [event] = harness.events()
        assert event.status == "skipped" and event.reason
        assert harness.ledger() == []

    def test_every_fixture_parses_to_its_expected_outcome(self, harness):
        for name, expected in self.expectations.items():
            harness.sandbox("post", "reset")
            connection = self.connect(harness, name=name)
            response = self.post(harness, connection, name)
            assert response.status_code in (200, 202), (name, response.get_json())
            harness.drain()
            event = [e for e in harness.events() if e.connection_id == connection.id][-1]
            if expected == "award":
                assert event.status == "delivered", (name, event.status, event.reason)
                assert len(harness.ledger()) == 1, name
            else:
                assert event.status == expected, (name, event.status, event.reason)
                assert harness.ledger() == [], name
            assert "cannot read" not in (event.reason or ""), (name, event.reason)

    def test_every_fixture_is_used_and_every_declared_type_has_one(self):
        folder = CONNECTORS / self.vendor / "fixtures"
        on_disk = {path.stem for path in folder.glob("*.json")}
        assert on_disk == set(self.expectations), "fixtures on disk and expectations differ"
        connector = registry.get(self.vendor)
        for event_type in connector.handled_event_types:
            assert any(name.startswith(event_type + ".") for name in on_disk), f"no fixture for {event_type}"

    def test_connector_folder_has_readme_and_declares_events(self):
        folder = CONNECTORS / self.vendor
        assert (folder / "README.md").is_file()
        connector = registry.get(self.vendor)
        assert connector.handled_event_types, "no handled event types declared"
        assert connector.display_name and connector.slug == self.vendor
