"""The claim page through Flask's test client (CSRF, plain answers), and what
support sees and does: claims on the event (admin API and dashboard), revoke
from the API, the dashboard and the CLI, claim_url in `connections --json`."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from bridge.cli import main
from bridge.store import Database
from tests.support import Harness
from tests.test_claims import anonymous_sale, claim, claims_connection, recorded


def _csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def _form(**fields) -> dict:
    from bridge.store.tables import utcnow

    return {"receipt": "Hx7k", "date": utcnow().date().isoformat(), "amount": "25.00", **fields}


# -- the page ------------------------------------------------------------------
def test_the_page_is_plain_html_with_labels_and_a_csrf_token(harness):
    connection = claims_connection(harness, claim_slug="cafe-rio")
    page = harness.client.get("/claim/cafe-rio")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert 'name="viewport"' in html and '<html lang="en">' in html
    for field in ("receipt", "date", "amount", "email", "phone", "barcode"):
        assert f'<label for="{field}">' in html and f'id="{field}"' in html
    assert _csrf(page) and connection.id not in html


def test_a_form_post_without_its_csrf_token_is_refused_and_awards_nothing(harness):
    connection = claims_connection(harness, claim_slug="cafe-rio")
    anonymous_sale(harness, connection)
    refused = harness.client.post("/claim/cafe-rio", data=_form(email="alice@example.com"))
    assert refused.status_code == 400 and "open too long" in refused.get_data(as_text=True)
    assert harness.ledger() == [] and harness.transactions()[0].status == "unmatched"


def test_a_form_post_shows_the_points(harness):
    connection = claims_connection(harness, claim_slug="cafe-rio")
    anonymous_sale(harness, connection)
    token = _csrf(harness.client.get("/claim/cafe-rio"))
    done = harness.client.post("/claim/cafe-rio", data=_form(csrf_token=token, email="alice@example.com"))
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "+25 points" in html and "balance is now <strong>25</strong>" in html


def test_an_unknown_customer_is_sent_to_the_sign_up_page(harness):
    connection = claims_connection(harness, claim_slug="cafe-rio", signup_url="https://cafe.example.com/join")
    anonymous_sale(harness, connection)
    token = _csrf(harness.client.get("/claim/cafe-rio"))
    page = harness.client.post("/claim/cafe-rio", data=_form(csrf_token=token, email="new@example.com"))
    assert page.status_code == 404
    assert '<a href="https://cafe.example.com/join">' in page.get_data(as_text=True)


def test_a_missing_page_says_so_plainly(harness):
    page = harness.client.get("/claim/no-such-shop")
    assert page.status_code == 404 and "does not exist" in page.get_data(as_text=True)


# -- support ---------------------------------------------------------------------
def _held_claim(h):
    """A claim whose delivery is waiting for a retry (the core answered 503)."""
    connection = claims_connection(h)
    anonymous_sale(h, connection)
    h.sandbox("post", "faults", json={"api": "xtarly", "status": 503, "count": 1})
    assert claim(h, connection, email="bob@example.com").status_code == 202
    [attempt] = recorded(h)
    return connection, attempt


def test_the_event_shows_its_claims_and_support_revokes_through_the_api(api):
    connection, attempt = _held_claim(api)
    [event] = api.events()
    shown = api.client.get(f"/api/events/{event.id}", headers=api.auth).get_json()
    [view] = shown["transactions"][0]["claims"]
    assert (view["id"], view["outcome"], view["identity"], view["revocable"]) == (attempt.id, "pending",
                                                                                   "b***@example.com", True)
    assert "bob@example.com" not in json.dumps(shown["transactions"][0]["claims"])
    assert api.client.post(f"/api/claims/{attempt.id}/revoke").status_code == 401  # admin only
    revoked = api.client.post(f"/api/claims/{attempt.id}/revoke", headers=api.auth)
    assert revoked.status_code == 200 and revoked.get_json()["outcome"] == "revoked"
    again = api.client.post(f"/api/claims/{attempt.id}/revoke", headers=api.auth)
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert api.client.post("/api/claims/999/revoke", headers=api.auth).status_code == 404
    listed = api.client.get(f"/api/claims?connection_id={connection.id}", headers=api.auth).get_json()
    assert [c["outcome"] for c in listed["claims"]] == ["revoked"]
    assert api.transactions()[0].status == "unmatched"


def test_the_dashboard_event_page_shows_the_claim_and_revokes_it(tmp_path):
    h = Harness(f"sqlite:///{tmp_path / 'dash.db'}")  # no token: loopback needs no sign-in
    try:
        _, attempt = _held_claim(h)
        [event] = h.events()
        page = h.client.get(f"/admin/events/{event.id}")
        html = page.get_data(as_text=True)
        assert "Receipt claims" in html and f'data-claim="{attempt.id}"' in html and "b***@example.com" in html
        done = h.client.post(f"/admin/claims/{attempt.id}/revoke",
                             data={"csrf_token": _csrf(page), "event_id": str(event.id)})
        assert done.status_code == 302
        assert "revoked" in h.client.get(f"/admin/events/{event.id}").get_data(as_text=True)
        assert h.transactions()[0].status == "unmatched"
    finally:
        h.close()


def test_cli_lists_and_revokes_claims_and_connections_print_the_claim_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    h = Harness(url)
    try:
        _, attempt = _held_claim(h)
    finally:
        h.close()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "https://pos.example.com")
    monkeypatch.delenv("REDIS_URL", raising=False)
    runner = CliRunner()
    listed = runner.invoke(main, ["claims", "list", "--json"], catch_exceptions=False)
    assert listed.exit_code == 0 and json.loads(listed.output)[0]["identity"] == "b***@example.com"
    assert runner.invoke(main, ["claims", "revoke", str(attempt.id)]).exit_code == 0
    again = runner.invoke(main, ["claims", "revoke", str(attempt.id)])
    assert again.exit_code == 1 and "revoked" in again.output
    made = runner.invoke(main, ["connections", "add", "--vendor", "square", "--name", "Cafe", "--target", "xtarly",
                                "--target-url", "http://127.0.0.1:8000/sandbox/xtarly", "--target-key", "k",
                                "--signing-key", "s", "--set", "claims=on", "--set", "claim_slug=cafe-rio",
                                "--json"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["claim_url"] == "https://pos.example.com/claim/cafe-rio"
    later = json.loads(runner.invoke(main, ["connections", "add", "--vendor", "square", "--name", "Two",
                                            "--target", "xtarly", "--target-url",
                                            "http://127.0.0.1:8000/sandbox/xtarly", "--target-key", "k",
                                            "--signing-key", "s", "--json"]).output)
    turned_on = runner.invoke(main, ["connections", "set", later["id"], "claims=on"], catch_exceptions=False)
    assert "claim URL (for the receipt footer): https://pos.example.com/claim/" in turned_on.output
    assert later["id"] not in turned_on.output.split("claim URL")[1]
    rows = json.loads(runner.invoke(main, ["connections", "list", "--json"]).output)
    assert "https://pos.example.com/claim/cafe-rio" in [row.get("claim_url") for row in rows]
    Database(url).dispose()
