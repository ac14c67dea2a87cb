"""The admin API: every endpoint, auth failures, bad input: clear 4xx, never 500."""

from __future__ import annotations

import json

import pytest

from tests.support import ADMIN_TOKEN as TOKEN


def _failed_sale(h):
    connection = h.add_connection(target_key="xtarly_pos_noprogram")
    h.post_fixture(connection.id, "payment.updated.completed")
    h.drain()
    return connection


def test_no_token_and_wrong_token_are_401(api):
    assert api.client.get("/api/events").status_code == 401
    response = api.client.get("/api/events", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert api.client.get("/api/events", headers=api.auth).status_code == 200


def test_without_a_token_only_loopback_and_never_proxied(harness):
    assert harness.client.get("/api/events", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert harness.client.get("/api/events", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    proxied = harness.client.get("/api/events", headers={"X-Forwarded-For": "203.0.113.9"},
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert proxied.status_code == 403


def test_openapi_is_served_and_lists_every_route(api):
    document = api.client.get("/api/openapi.json").get_json()
    documented = set(document["paths"])
    routes = {rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
              for rule in api.app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    routes = {r.replace("{any(pause, resume, disable):action}", "ACTION") for r in routes}
    expanded = set()
    for route in routes:
        expanded |= ({route.replace("ACTION", a) for a in ("pause", "resume", "disable")} if "ACTION" in route else {route})
    normalised = {r.replace("{event_id}", "{event_id}") for r in expanded}
    assert normalised == documented


def test_search_finds_a_failed_sale_by_email_and_pages_with_a_cursor(api):
    _failed_sale(api)
    found = api.client.get("/api/events?status=failed&email=Alice@Example.com", headers=api.auth).get_json()
    assert [e["status"] for e in found["events"]] == ["failed"] and found["next_cursor"] is None
    assert api.client.get("/api/events?email=zoe@example.com", headers=api.auth).get_json()["events"] == []
    connection = api.add_connection(name="second")
    for n in range(3):
        api.post_fixture(connection.id, "payment.updated.completed", mutate=lambda d, n=n: d.update(event_id=f"e{n}"))
    first = api.client.get("/api/events?limit=2", headers=api.auth).get_json()
    second = api.client.get(f"/api/events?limit=2&cursor={first['next_cursor']}", headers=api.auth).get_json()
    ids = [e["id"] for e in first["events"] + second["events"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4


@pytest.mark.parametrize("query, fragment", [
    ("status=lost", "status must be one of"),
    ("since=yesterday", "ISO 8601"),
    ("cursor=!!!", "malformed cursor"),
    ("limit=0", "limit must be"),
    ("limit=ten", "whole number"),
    ("colour=red", "unknown filter colour"),
])
def test_bad_filters_are_400_with_the_reason(api, query, fragment):
    response = api.client.get(f"/api/events?{query}", headers=api.auth)
    assert response.status_code == 400 and fragment in response.get_json()["detail"]


def test_event_detail_and_unknown_ids(api):
    _failed_sale(api)
    [event] = api.client.get("/api/events", headers=api.auth).get_json()["events"]
    detail = api.client.get(f"/api/events/{event['id']}", headers=api.auth).get_json()
    assert "BAD_REQUEST" in detail["reason"]
    assert detail["transactions"][0]["delivery_attempts"][0]["status_code"] == 400
    assert detail["request"]["headers"]["x-square-hmacsha256-signature"].startswith("…")
    assert api.client.get("/api/events/999", headers=api.auth).status_code == 404
    assert api.client.get("/api/events/abc", headers=api.auth).status_code == 404
    assert api.client.post("/api/events/999/replay", headers=api.auth).status_code == 404


def test_replay_one_through_the_api(api):
    connection = _failed_sale(api)
    rotated = api.client.post(f"/api/connections/{connection.id}/rotate-key", json={"target_key": "xtarly_pos_demo"},
                              headers=api.auth)
    assert rotated.status_code == 200
    event_id = api.events()[0].id
    assert api.client.post(f"/api/events/{event_id}/replay", headers=api.auth).get_json() == {"replayed": [event_id]}
    api.drain()
    assert api.events()[0].status == "delivered" and len(api.ledger()) == 1


def test_bulk_replay_dry_run_start_show_cancel(api):
    connection = _failed_sale(api)
    body = {"filters": {"status": "failed", "connection_id": connection.id}, "dry_run": True}
    assert api.client.post("/api/replays", json=body, headers=api.auth).get_json()["matching"] == 1
    connection_key = api.client.post(f"/api/connections/{connection.id}/rotate-key",
                                     json={"target_key": "xtarly_pos_demo"}, headers=api.auth)
    assert connection_key.status_code == 200
    job = api.client.post("/api/replays", json={"filters": {"status": "failed"}}, headers=api.auth)
    assert job.status_code == 202 and job.get_json()["total"] == 1
    api.drain()
    shown = api.client.get(f"/api/replays/{job.get_json()['id']}", headers=api.auth).get_json()
    assert (shown["status"], shown["done"], shown["remaining"]) == ("finished", 1, 0)
    assert len(api.client.get("/api/replays", headers=api.auth).get_json()["replays"]) == 1
    assert api.client.post(f"/api/replays/{shown['id']}/cancel", headers=api.auth).get_json()["status"] == "finished"
    assert api.client.post("/api/replays/77/cancel", headers=api.auth).status_code == 404
    assert api.client.get("/api/replays/77", headers=api.auth).status_code == 404


@pytest.mark.parametrize("body, fragment", [
    ({}, "filters must be"),
    ({"filters": {"status": "nope"}}, "status must be"),
    ({"filters": "failed"}, "filters must be"),
])
def test_bulk_replay_bad_input(api, body, fragment):
    response = api.client.post("/api/replays", json=body, headers=api.auth)
    assert response.status_code == 400 and fragment in response.get_json()["detail"]


def test_bulk_replay_non_json_body_is_400(api):
    response = api.client.post("/api/replays", data="status=failed", headers={**api.auth, "Content-Type": "text/plain"})
    assert response.status_code == 400


def test_connections_create_list_show_settings_pause_resume_disable(api):
    created = api.client.post("/api/connections", headers=api.auth, json={
        "vendor": "square", "name": "Cafe", "target": "xtarly", "target_url": "https://bridge.example.com/sandbox/xtarly",
        "target_key": "xtarly_pos_demo", "signing_key": "sq-secret-1234"})
    assert created.status_code == 201
    connection = created.get_json()
    assert connection["webhook_url"].endswith(f"/hooks/{connection['id']}")
    listed = api.client.get("/api/connections", headers=api.auth)
    assert "sq-secret-1234" not in listed.get_data(as_text=True)
    cid = connection["id"]
    assert api.client.get(f"/api/connections/{cid}", headers=api.auth).get_json()["name"] == "Cafe"
    patched = api.client.patch(f"/api/connections/{cid}", json={"settings": {"include_tips": "true"}}, headers=api.auth)
    assert patched.get_json()["settings"] == {"include_tips": "true"}
    assert api.client.patch(f"/api/connections/{cid}", json={"settings": {"bogus": "1"}},
                            headers=api.auth).status_code == 400
    assert api.client.post(f"/api/connections/{cid}/pause", headers=api.auth).get_json()["status"] == "paused"
    assert api.client.post(f"/api/connections/{cid}/resume", headers=api.auth).get_json()["status"] == "active"
    assert api.client.post(f"/api/connections/{cid}/disable", headers=api.auth).get_json()["status"] == "disabled"
    assert api.post_fixture(cid, "payment.updated.completed", signing_key="sq-secret-1234").status_code == 404
    assert api.client.get("/api/connections/con_nope", headers=api.auth).status_code == 404
    assert api.client.post("/api/connections/con_nope/pause", headers=api.auth).status_code == 404
    assert api.client.post(f"/api/connections/{cid}/rotate-key", json={}, headers=api.auth).status_code == 400


@pytest.mark.parametrize("body, fragment", [
    ({"vendor": "square"}, "missing name"),
    ({"vendor": "nope", "name": "x", "target": "xtarly", "target_url": "https://x.test", "target_key": "k"}, "unknown vendor"),
    ({"vendor": "square", "name": "x", "target": "xtarly", "target_url": "https://x.test", "target_key": "k",
      "signing_keys": "one"}, "must be a list"),
])
def test_connection_create_bad_input(api, body, fragment):
    response = api.client.post("/api/connections", json=body, headers=api.auth)
    assert response.status_code == 400 and fragment in response.get_json()["detail"]


def test_overview_counts_the_last_24_hours(api):
    connection = _failed_sale(api)
    [entry] = api.client.get("/api/overview", headers=api.auth).get_json()["connections"]
    assert entry["connection"]["id"] == connection.id
    assert entry["last_24h"]["total"] == 1 and entry["last_24h"]["failed"] == 1
    assert "BAD_REQUEST" in entry["last_error"]["reason"]
    assert json.dumps(entry).count("xtarly_pos_noprogram") == 0


def test_the_dashboard_cookie_reads_the_api_but_cannot_write_through_it(api):
    with api.client.session_transaction() as cookie:
        cookie["admin"], cookie["token"] = True, TOKEN
    assert api.client.get("/api/replays").status_code == 200
    assert api.client.post("/api/replays", json={"filters": {"status": "failed"}}).status_code == 401
