"""The dashboard through Flask's test client: auth, CSRF, bad input. Every
answer is a page with a message, never a 500 and never JSON."""

from __future__ import annotations

import re

import pytest

from bridge.store.tables import AuditRow
from tests.support import Harness

TOKEN = "t0ken"


@pytest.fixture
def dash(tmp_path):
    h = Harness(f"sqlite:///{tmp_path / 'dash.db'}", admin_token=TOKEN)
    yield h
    h.close()


def _csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def _sign_in(client) -> None:
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"csrf_token": _csrf(page), "token": TOKEN})
    assert response.status_code == 302


def _failed_sale(h) -> int:
    connection = h.add_connection(target_key="xtarly_pos_noprogram", name="Harbour <Cafe>")
    h.post_fixture(connection.id, "payment.updated.completed")
    h.drain()
    [event] = h.events()
    assert event.status == "failed"
    return event.id


@pytest.mark.parametrize("path", ["/admin/", "/admin", "/admin/events?status=failed", "/admin/events/1",
                                  "/admin/replays", "/admin/connections", "/admin/connections/new"])
def test_without_a_session_every_page_redirects_to_login(dash, path):
    response = dash.client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_login_keeps_the_token_in_the_session_and_returns_to_the_page(dash):
    login = dash.client.get("/admin/login?next=/admin/events%3Fstatus%3Dfailed")
    assert login.status_code == 200 and 'type="password"' in login.get_data(as_text=True)
    response = dash.client.post("/admin/login", data={"csrf_token": _csrf(login), "token": TOKEN,
                                                      "next": "/admin/events?status=failed"})
    assert response.headers["Location"] == "/admin/events?status=failed"
    assert dash.client.get("/admin/").status_code == 200
    assert dash.client.get("/api/events").status_code == 200  # the admin API takes the same session


def test_a_wrong_token_shows_an_error_and_signs_nobody_in(dash):
    login = dash.client.get("/admin/login")
    response = dash.client.post("/admin/login", data={"csrf_token": _csrf(login), "token": "guess"})
    assert response.status_code == 401
    assert "not the admin token" in response.get_data(as_text=True)
    assert dash.client.get("/admin/").status_code == 302


def test_login_never_redirects_off_the_dashboard(dash):
    login = dash.client.get("/admin/login")
    response = dash.client.post("/admin/login", data={"csrf_token": _csrf(login), "token": TOKEN,
                                                      "next": "//evil.example/admin"})
    assert response.headers["Location"] == "/admin/"


def test_a_bearer_token_works_without_a_session(dash):
    assert dash.client.get("/admin/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_logout_ends_the_session(dash):
    _sign_in(dash.client)
    page = dash.client.get("/admin/")
    assert dash.client.post("/admin/logout", data={"csrf_token": _csrf(page)}).status_code == 302
    assert dash.client.get("/admin/").status_code == 302


def test_a_post_without_or_with_a_wrong_csrf_token_is_400_and_changes_nothing(dash):
    event_id = _failed_sale(dash)
    _sign_in(dash.client)
    for data in ({}, {"csrf_token": "forged"}):
        response = dash.client.post(f"/admin/events/{event_id}/replay", data=data)
        assert response.status_code == 400
        assert "form has expired" in response.get_data(as_text=True)
        assert response.mimetype == "text/html"
    assert dash.events()[0].status == "failed" and not dash.dispatcher.jobs
    login = dash.client.get("/admin/login")
    assert dash.client.post("/admin/login", data={"token": TOKEN}).status_code == 400
    assert login.status_code == 302  # already signed in


def test_replay_with_the_csrf_token_is_audited(dash):
    event_id = _failed_sale(dash)
    _sign_in(dash.client)
    page = dash.client.get(f"/admin/events/{event_id}")
    response = dash.client.post(f"/admin/events/{event_id}/replay", data={"csrf_token": _csrf(page)})
    assert response.status_code == 302
    assert list(dash.dispatcher.jobs) == [("process_event", event_id)]
    with dash.db.session() as session:
        [audit] = session.query(AuditRow).filter_by(action="replay").all()
        assert audit.actor == "dashboard" and audit.subject_id == str(event_id)


def test_event_detail_shows_the_reason_transactions_and_masked_headers(dash):
    event_id = _failed_sale(dash)
    _sign_in(dash.client)
    text = dash.client.get(f"/admin/events/{event_id}").get_data(as_text=True)
    assert "Xtarly answered 400 BAD_REQUEST: the organization has no active reward program" in text
    assert "19.99 USD" in text and "alice@example.com" in text and "lb_" in text
    assert "x-square-hmacsha256-signature" in text and "…" in text
    assert "Harbour &lt;Cafe&gt;" in text and "Harbour <Cafe>" not in text  # escaped


@pytest.mark.parametrize("path", ["/admin/events/999", "/admin/events/abc", "/admin/replays/77",
                                  "/admin/replays/x"])
def test_unknown_ids_are_a_404_page(dash, path):
    _sign_in(dash.client)
    response = dash.client.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "There is no" in response.get_data(as_text=True)


def test_unknown_connection_actions_are_404(dash):
    _sign_in(dash.client)
    token = _csrf(dash.client.get("/admin/connections"))
    for action in ("pause", "resume", "disable", "rotate"):
        response = dash.client.post(f"/admin/connections/con_nope/{action}",
                                    data={"csrf_token": token, "kind": "target_key", "value": "k"})
        assert response.status_code == 404, action


@pytest.mark.parametrize("query, message", [
    ("since=yesterday", "since must be an ISO 8601 time"),
    ("status=lost", "status must be one of"),
    ("cursor=%25%25%25", "malformed cursor"),
    ("until=2026-13-45", "until must be an ISO 8601 time"),
])
def test_a_bad_filter_is_a_message_on_the_page(dash, query, message):
    _sign_in(dash.client)
    response = dash.client.get(f"/admin/events?{query}")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert message in response.get_data(as_text=True)


def test_bulk_replay_needs_a_filter_and_a_valid_one(dash):
    _failed_sale(dash)
    _sign_in(dash.client)
    token = _csrf(dash.client.get("/admin/replays"))
    empty = dash.client.post("/admin/replays/preview", data={"csrf_token": token})
    assert empty.status_code == 400 and "Choose at least one filter" in empty.get_data(as_text=True)
    bad = dash.client.post("/admin/replays", data={"csrf_token": token, "since": "soon"})
    assert bad.status_code == 400 and "since must be" in bad.get_data(as_text=True)
    preview = dash.client.post("/admin/replays/preview", data={"csrf_token": token, "status": "failed"})
    assert "1 event match" in preview.get_data(as_text=True)
    started = dash.client.post("/admin/replays", data={"csrf_token": token, "status": "failed"})
    assert re.fullmatch(r"/admin/replays/\d+", started.headers["Location"])
    assert [job for job, _ in dash.dispatcher.jobs] == ["replay_job"]


def test_creating_a_connection_with_bad_input_shows_why(dash):
    _sign_in(dash.client)
    token = _csrf(dash.client.get("/admin/connections/new"))
    base = {"csrf_token": token, "vendor": "generic", "name": "Shop", "target": "xtarly",
            "target_url": "https://bridge.example.com/sandbox/xtarly", "target_key": "xtarly_pos_demo"}
    for changes, message in (({"name": ""}, "Fill in a name"),
                             ({"target_url": "ftp://x"}, "target URL must be http(s)"),
                             ({"target": "nowhere"}, "unknown target"),
                             ({"vendor": "cashbox"}, "unknown vendor"),
                             ({"currency": "XYZ"}, "unknown currency"),
                             ({"vendor": "square"}, "Square signs its webhooks")):
        response = dash.client.post("/admin/connections/new", data={**base, **changes})
        assert response.status_code == 400, (changes, response.status_code)
        text = response.get_data(as_text=True)
        assert message in text, (changes, text[-1500:])
        assert "xtarly_pos_demo\"" not in text  # a typed key is never echoed back
    created = dash.client.post("/admin/connections/new", data=base)
    assert created.status_code == 201
    assert "https://bridge.example.com/hooks/con_" in created.get_data(as_text=True)


def test_without_a_token_loopback_needs_no_login_and_others_get_403(harness):
    assert harness.client.get("/admin/", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    refused = harness.client.get("/admin/", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert refused.status_code == 403 and "loopback" in refused.get_data(as_text=True)
    assert harness.client.get("/admin/login").status_code == 302


def test_pages_carry_a_strict_content_security_policy(dash):
    response = dash.client.get("/admin/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "SameSite=Lax" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
