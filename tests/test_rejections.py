"""Refused requests are recorded for support, bounded, and never hold a secret."""

from __future__ import annotations

import json
import os

from sqlalchemy import func, select

from bridge import rejections
from bridge.store.tables import RejectionRow
from tests.support import fixture_bytes


def test_a_refused_request_is_recorded_with_its_reason_and_no_secret(harness):
    connection = harness.add_connection()
    response = harness.post_fixture(connection.id, "payment.updated.completed", signing_key="wrong-key",
                                    headers={"Authorization": "Bearer caller-secret-value"})
    assert response.status_code == 401
    [row] = rejections.recent(harness.db, connection.id)
    assert row["reason"].startswith("the signature does not match the signing key")
    assert row["body_size"] == len(fixture_bytes("square", "payment.updated.completed"))
    assert len(row["body_sha256"]) == 64 and len(row["body_excerpt"]) <= rejections.EXCERPT_BYTES
    stored = json.dumps(row)
    signature = response.request.headers["x-square-hmacsha256-signature"]
    assert signature not in stored and "caller-secret-value" not in stored
    assert row["headers"]["x-square-hmacsha256-signature"].startswith("…")
    summary = rejections.summary(harness.db, connection.id)
    assert summary["rejected_24h"] == 1 and summary["last_rejection"]["reason"] == row["reason"]


def test_missing_header_has_its_own_reason(harness):
    connection = harness.add_connection()
    harness.post(connection.id, fixture_bytes("square", "payment.updated.completed"), sign=False)
    assert rejections.recent(harness.db, connection.id)[0]["reason"].startswith("no x-square-hmacsha256-signature header")


def test_a_flood_is_counted_but_stored_only_up_to_the_cap(harness, monkeypatch):
    monkeypatch.setattr(rejections, "STORE_PER_HOUR", 20)
    monkeypatch.setattr(rejections, "KEEP_PER_CONNECTION", 10)
    connection = harness.add_connection()
    body = fixture_bytes("square", "payment.updated.completed")
    for _ in range(300):
        assert harness.post(connection.id, body, signing_key="flood").status_code == 401
    assert harness.post_fixture(connection.id, "payment.updated.completed").status_code == 202  # valid meanwhile
    with harness.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(RejectionRow))
    assert stored == 10
    assert rejections.summary(harness.db, connection.id)["rejected_24h"] == 300


def test_connections_list_shows_the_rejection_fields(harness):
    from bridge import connections

    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed", signing_key="wrong-key")
    [view] = [connections.describe(harness.db, row, harness.config.public_url)
              for row in connections.list_rows(harness.db)]
    assert view["rejected_24h"] == 1 and "does not match" in view["last_rejection"]["reason"]


# CI floods with 2,000 (40 times the hour's share of stored refusals);
# scripts/faults runs the 10,000.
FLOOD_N = int(os.environ.get("FLOOD_N", "2000"))


def test_a_flood_of_bad_requests_keeps_the_table_within_its_cap_and_valid_requests_are_answered(fresh_postgres_db):
    """The real caps, on PostgreSQL; ingest limits off so that every request reaches verification."""
    from tests.support import Harness

    h = Harness(fresh_postgres_db, rate_limit="off", address_rate_limit="off")
    try:
        connection = h.add_connection()
        body = fixture_bytes("square", "payment.updated.completed")
        refused = accepted = 0
        for batch in range(10):
            for _ in range(FLOOD_N // 10):
                refused += h.post(connection.id, body, signing_key="flood").status_code == 401
            document = json.loads(body)
            document["event_id"] = f"valid-during-flood-{batch}"
            accepted += h.post(connection.id, json.dumps(document).encode()).status_code == 202
        assert (refused, accepted) == (FLOOD_N // 10 * 10, 10)
        with h.db.session() as session:
            stored = session.scalar(select(func.count()).select_from(RejectionRow))
        # An hour boundary during the run may store a second hour's share, never past the total cap.
        assert rejections.STORE_PER_HOUR <= stored <= min(2 * rejections.STORE_PER_HOUR, rejections.KEEP_PER_CONNECTION)
        assert rejections.summary(h.db, connection.id)["rejected_24h"] == FLOOD_N // 10 * 10
        assert len(h.events()) == 10
    finally:
        h.close()
