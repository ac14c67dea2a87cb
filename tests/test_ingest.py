"""POST /hooks/<id>: bad input gets a clear 4xx, and nothing is stored but what should be."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from bridge import connections, registry
from tests.support import Harness, LiveServer, fixture_bytes

square = registry.get("square")


def _signed(harness, connection_id, body: bytes) -> dict:
    return square.sign(body, connections.webhook_url(harness.config.public_url, connection_id), "test-signature-key")


@pytest.mark.parametrize("body, detail", [
    (b"{not json", "malformed JSON"),
    (b"", "empty body"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b'{"type": "payment.updated"}', "event_id: missing"),
    (b"[1, 2]", "expected an object"),
])
def test_unreadable_signed_body_is_400_and_not_stored(harness, body, detail):
    connection = harness.add_connection()
    headers = _signed(harness, connection.id, body)
    response = harness.client.post(f"/hooks/{connection.id}", data=body, headers=headers)
    if body.startswith(b"\xff"):
        assert response.status_code == 401  # Square cannot have signed bytes that are not UTF-8
    else:
        assert response.status_code == 400, response.get_json()
        assert detail in response.get_json()["detail"]
    assert response.mimetype == "application/problem+json"
    assert "Traceback" not in response.get_data(as_text=True)
    assert harness.events() == []


def test_wrong_content_type_is_415(harness):
    connection = harness.add_connection()
    body = fixture_bytes("square", "payment.updated.completed")
    headers = {**_signed(harness, connection.id, body), "Content-Type": "application/xml"}
    response = harness.client.post(f"/hooks/{connection.id}", data=body, headers=headers)
    assert response.status_code == 415
    assert harness.events() == []


def test_body_above_the_cap_is_413(tmp_path):
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", max_body_bytes=1024)
    connection = harness.add_connection()
    body = b'{"event_id": "x", "pad": "' + b"a" * 4096 + b'"}'
    response = harness.client.post(f"/hooks/{connection.id}", data=body, headers=_signed(harness, connection.id, body))
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert harness.events() == []
    harness.close()


def test_unknown_route_and_wrong_method_are_problems_not_html(harness):
    assert harness.client.get("/hooks/whatever").status_code == 405
    response = harness.client.get("/nope")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_disabled_connection_is_404(harness):
    connection = harness.add_connection()
    with harness.db.session() as session:
        connections.get(session, connection.id).status = "disabled"
    response = harness.post_fixture(connection.id, "payment.updated.completed")
    assert response.status_code == 404


def test_paused_connection_still_stores_events(harness):
    """A wrong loyalty key must not cost the merchant their webhooks."""
    connection = harness.add_connection()
    with harness.db.session() as session:
        connections.pause(session, connection.id, "test pause")
    assert harness.post_fixture(connection.id, "payment.updated.completed").status_code == 202
    harness.drain()
    assert harness.events()[0].status == "paused"


def test_store_down_answers_503_so_the_vendor_retries(harness, monkeypatch):
    connection = harness.add_connection()

    def broken(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database is gone"))

    monkeypatch.setattr("bridge.web.hooks.insert_event", broken)
    response = harness.post_fixture(connection.id, "payment.updated.completed")
    assert response.status_code == 503
    assert response.get_json()["code"] == "store_unavailable"


def test_healthz_and_readyz(harness):
    assert harness.client.get("/healthz").get_json() == {"status": "ok"}
    ready = harness.client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"


def _webhook_counts(harness) -> dict[tuple[str, str, str], float]:
    text = harness.client.get("/metrics").get_data(as_text=True)
    return {(s.labels["connection"], s.labels["outcome"], s.labels["reason"]): s.value
            for family in text_string_to_metric_families(text) if family.name == "bridge_webhooks"
            for s in family.samples if s.name == "bridge_webhooks_total"}


def test_metrics_count_webhooks_by_connection_outcome_and_reason(harness):
    connection = harness.add_connection()
    body = fixture_bytes("square", "payment.updated.completed")
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.post_fixture(connection.id, "payment.updated.completed")  # the same event again
    harness.client.post(f"/hooks/{connection.id}", data=body, headers={"content-type": "application/json"})
    harness.client.post(f"/hooks/{connection.id}", data=body, headers={
        "content-type": "application/json", "x-square-hmacsha256-signature": "bm90IGEgc2lnbmF0dXJl"})
    harness.client.post("/hooks/con_nobody_at_all", data=body, headers={"content-type": "application/json"})
    counts = _webhook_counts(harness)
    mine = {key[1:]: value for key, value in counts.items() if key[0] == connection.id}
    assert mine == {("received", ""): 4, ("verified", ""): 2, ("stored", ""): 1, ("duplicate", ""): 1,
                    ("rejected", "missing"): 1, ("rejected", "mismatch"): 1}
    # An unknown id never becomes a label value.
    assert counts[("unknown", "rejected", "unknown_connection")] >= 1
    assert not any(key[0] == "con_nobody_at_all" for key in counts)


def _concurrent_same_event(harness: Harness, posts: int = 20) -> None:
    connection = harness.add_connection()
    server = LiveServer(harness.app)
    body = fixture_bytes("square", "payment.updated.completed")
    headers = _signed(harness, connection.id, body)
    try:
        with concurrent.futures.ThreadPoolExecutor(posts) as pool:
            statuses = list(pool.map(lambda _: httpx.post(f"{server.url}/hooks/{connection.id}", content=body,
                                                          headers=headers, timeout=30).status_code, range(posts)))
    finally:
        server.close()
    assert sorted(statuses) == [200] * (posts - 1) + [202]
    assert len(harness.events()) == 1
    harness.drain()
    assert len(harness.ledger()) == 1


def test_same_event_posted_20_times_concurrently_awards_once_on_sqlite(harness):
    _concurrent_same_event(harness)


@pytest.mark.services
def test_same_event_posted_20_times_concurrently_awards_once_on_postgres(pg_harness):
    _concurrent_same_event(pg_harness)


def test_a_burst_of_1000_passes_then_429_with_retry_after(tmp_path):
    # Refill of one token per 100 s: the 1,000 posts cannot earn one back meanwhile.
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", rate_limit="1000/0.01")
    connection = harness.add_connection()
    body = fixture_bytes("square", "payment.updated.completed")
    headers = _signed(harness, connection.id, body)
    statuses = [harness.client.post(f"/hooks/{connection.id}", data=body, headers=headers).status_code
                for _ in range(1000)]
    assert set(statuses) == {200, 202}
    refused = harness.client.post(f"/hooks/{connection.id}", data=body, headers=headers)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 100
    assert refused.get_json()["code"] == "rate_limited"
    harness.close()


def test_per_connection_setting_and_per_address_limit(tmp_path):
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", address_rate_limit="3/0.1")
    tight = harness.add_connection(settings={"rate_limit": "2/0.5"})
    assert [harness.post_fixture(tight.id, "payment.updated.completed").status_code for _ in range(3)] == [202, 200, 429]
    other = harness.add_connection(name="other")
    assert harness.post_fixture(other.id, "payment.updated.completed").status_code == 202
    blocked = harness.post_fixture(other.id, "payment.updated.completed")
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "10"
    harness.close()


def test_bad_rate_limit_setting_is_refused(harness):
    from bridge.errors import ConfigError
    with pytest.raises(ConfigError, match="BURST/PER_SECOND"):
        harness.add_connection(settings={"rate_limit": "lots"})


@pytest.mark.services
def test_two_web_processes_draw_from_the_same_buckets_in_redis(tmp_path, fresh_redis_url):
    """With Redis, W web processes do not give a connection W times its limit."""
    database = f"sqlite:///{tmp_path / 'b.db'}"
    first = Harness(database, rate_limit="10/0.01", redis_url=fresh_redis_url)
    second = Harness(database, rate_limit="10/0.01", redis_url=fresh_redis_url)  # its own app and buckets
    connection = first.add_connection()
    body = fixture_bytes("square", "payment.updated.completed")
    headers = _signed(first, connection.id, body)
    statuses = [web.client.post(f"/hooks/{connection.id}", data=body, headers=headers).status_code
                for _ in range(8) for web in (first, second)]
    assert statuses.count(429) == 6 and set(statuses) == {200, 202, 429}
    assert statuses[:10].count(429) == 0  # the first ten, alternating between the two, share the burst
    first.close()
    second.close()


def test_ingest_goes_on_when_the_shared_buckets_are_unreachable(tmp_path):
    """Redis down must not turn a POS away: each process falls back to its own buckets."""
    from tests.services import free_port
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", rate_limit="3/0.01",
                      redis_url=f"redis://127.0.0.1:{free_port()}/0")
    connection = harness.add_connection()
    statuses = [harness.post_fixture(connection.id, "payment.updated.completed").status_code for _ in range(4)]
    assert statuses == [202, 200, 200, 429]  # served, and still limited, by the process's own bucket
    harness.close()
