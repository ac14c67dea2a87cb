"""Claims from the receipt (issue #13 part 2): the JSON API, the rules that
keep it honest, and support's revoke. The page itself: test_claim_page.py and
tests/dashboard/test_browser.py."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from bridge import claims, connections
from bridge.errors import ConfigError
from bridge.store.tables import ClaimRow, utcnow
from tests.support import Harness

RECEIPT = "Hx7k"  # the no-customer fixture's receipt_number; $25.00


def claims_connection(harness, target: str = "xtarly", **settings):
    # The claim delivers from the web process, through this client: the mounted sandbox.
    harness.app.extensions["golive_http"] = harness.http
    extra = {"country": "AU"} if target == "cockato" else {}
    return harness.add_connection(target=target, settings={"claims": "on", **settings}, **extra)


def anonymous_sale(harness, connection, payment_id: str = "PAYanon0001", days_ago: float = 0,
                   receipt: str = RECEIPT) -> None:
    """A completed Square payment with nobody attached: it ends unmatched."""
    when = (utcnow() - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")

    def mutate(doc):
        doc["event_id"] = f"evt-{payment_id}"
        payment = doc["data"]["object"]["payment"]
        payment.update(id=payment_id, created_at=when, receipt_number=receipt)
    harness.post_fixture(connection.id, "payment.created.completed-no-customer", mutate=mutate)
    harness.drain()
    assert harness.transactions()[-1].status == "unmatched"


def claim(harness, connection, client=None, **fields):
    body = {"receipt": RECEIPT, "date": utcnow().date().isoformat(), "amount": "25.00", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    with harness.db.session() as session:
        slug = connections.get(session, connection.id).claim_slug
    return (client or harness.client).post(f"/claim/{slug}", json=body)


def recorded(harness) -> list[ClaimRow]:
    with harness.db.session() as session:
        return list(session.scalars(select(ClaimRow).order_by(ClaimRow.id)))


# -- the connection's claim URL ------------------------------------------------
def test_claims_on_gives_a_random_public_slug_that_is_never_the_connection_id(harness):
    connection = claims_connection(harness)
    described = connections.describe(harness.db, connection, "https://bridge.example.com")
    slug = connection.claim_slug
    assert described["claim_url"] == f"https://bridge.example.com/claim/{slug}"
    assert slug and connection.id not in described["claim_url"] and len(slug) >= 10
    assert claims_connection(harness).claim_slug != slug
    plain = harness.add_connection()
    assert "claim_url" not in connections.describe(harness.db, plain, "https://bridge.example.com")


def test_a_readable_slug_can_be_chosen_and_is_checked(harness):
    connection = claims_connection(harness, claim_slug="cafe-rio")
    assert connection.claim_slug == "cafe-rio"
    with pytest.raises(ConfigError, match="taken"):
        claims_connection(harness, claim_slug="cafe-rio")
    with pytest.raises(ConfigError, match="lower-case"):
        claims_connection(harness, claim_slug="Cafe Rio!")
    with pytest.raises(ConfigError, match="claim_days"):
        claims_connection(harness, claim_days="fortnight")
    with pytest.raises(ConfigError, match="signup_url"):
        claims_connection(harness, signup_url="javascript:alert(1)")
    later = harness.add_connection()
    row = connections.set_settings(harness.db, later.id, {"claims": "on"})
    assert row.claim_slug and row.claim_slug != "cafe-rio"


def test_no_claim_page_without_claims_on(harness):
    connection = harness.add_connection()
    assert harness.client.get(f"/claim/{connection.id}").status_code == 404
    response = harness.client.post(f"/claim/{connection.id}", json={"receipt": "x"})
    assert response.status_code == 404 and response.get_json() == {"status": "not_found"}


# -- happy paths ---------------------------------------------------------------
def test_claim_by_email_awards_the_sale_under_its_own_key(harness):
    connection = claims_connection(harness)
    anonymous_sale(harness, connection)
    response = claim(harness, connection, receipt="hx7k", email="Alice@Example.com")  # as typed from paper
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "claimed", "earned_points": 25, "balance": 25}
    [award] = harness.ledger()
    [tx] = harness.transactions()
    assert award["customer_id"] == "cus_alice" and award["idempotency_key"] == tx.idempotency_key
    assert (tx.status, tx.customer_email) == ("delivered", "alice@example.com")
    assert harness.events()[0].status == "delivered"
    [attempt] = recorded(harness)
    assert (attempt.outcome, attempt.transaction_id, attempt.remote_addr) == ("claimed", tx.id, "127.0.0.1")


@pytest.mark.parametrize("identity", [{"phone": "0412 345 678"}, {"phone": "+61412345678"},
                                      {"barcode": "LOYAL-0001"}])
def test_claim_by_phone_or_card(harness, identity):
    connection = claims_connection(harness, target="cockato")
    anonymous_sale(harness, connection)
    response = claim(harness, connection, **identity)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "claimed" and response.get_json()["earned_points"] == 25
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_alice"


def test_the_total_before_the_tip_also_matches(harness):
    connection = claims_connection(harness)

    def with_tip(doc):
        doc["data"]["object"]["payment"].update(id="PAYtip", buyer_email_address=None,
                                                created_at=utcnow().isoformat().replace("+00:00", "Z"))
    harness.post_fixture(connection.id, "payment.updated.completed", mutate=with_tip)  # 19.99 + 3.00 tip
    harness.drain()
    assert claim(harness, connection, amount="22.99", email="alice@example.com").status_code == 200
    assert harness.ledger()[0]["amount"] == 1999  # points on the sale, never on the tip


# -- every no-match answers the same -------------------------------------------
def test_every_kind_of_no_match_gets_the_same_404_body(harness):
    connection = claims_connection(harness, claim_days="14")
    anonymous_sale(harness, connection, "PAYclaimed", receipt="R-CLAIMED")
    anonymous_sale(harness, connection, "PAYold", receipt="R-OLD", days_ago=20)
    anonymous_sale(harness, connection, "PAYopen", receipt=RECEIPT)
    assert claim(harness, connection, receipt="R-CLAIMED", email="bob@example.com").status_code == 200
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    old_date = (utcnow() - timedelta(days=20)).date().isoformat()
    answers = {
        "wrong amount": claim(harness, connection, amount="25.01", email="alice@example.com"),
        "wrong date": claim(harness, connection, date=yesterday, email="alice@example.com"),
        "unknown receipt": claim(harness, connection, receipt="NOPE", email="alice@example.com"),
        "already claimed": claim(harness, connection, receipt="R-CLAIMED", email="alice@example.com"),
        "outside the window": claim(harness, connection, receipt="R-OLD", date=old_date, email="alice@example.com"),
    }
    bodies = {kind: (r.status_code, r.mimetype, r.get_data()) for kind, r in answers.items()}
    assert set(bodies.values()) == {(404, "application/json", b'{"status":"not_found"}\n')}, bodies
    assert len(harness.ledger()) == 1  # only R-CLAIMED, once
    outcomes = [attempt.outcome for attempt in recorded(harness)]
    assert outcomes == ["claimed"] + ["not_found"] * 5
    assert claim(harness, connection, email="alice@example.com").status_code == 200  # the open one still works


def test_a_delivered_sale_is_never_claimed_again(harness):
    connection = claims_connection(harness)
    anonymous_sale(harness, connection)
    assert claim(harness, connection, email="alice@example.com").status_code == 200
    again = claim(harness, connection, email="bob@example.com")
    assert again.status_code == 404 and again.get_json() == {"status": "not_found"}
    assert len(harness.ledger()) == 1


# -- malformed input: 422 problem+json -----------------------------------------
@pytest.mark.parametrize("fields, field", [
    ({"receipt": None, "email": "alice@example.com"}, "receipt"),
    ({"date": "28/11/2026", "email": "alice@example.com"}, "date"),
    ({"date": "2026-02-30", "email": "alice@example.com"}, "date"),
    ({"amount": "12,50", "email": "alice@example.com"}, "amount"),
    ({"amount": "-1", "email": "alice@example.com"}, "amount"),
    ({"amount": 25, "email": "alice@example.com"}, "amount"),
    ({}, "email"),
    ({"email": "alice@example.com", "phone": "+61412345678"}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"phone": "12"}, "phone"),
    ({"barcode": "has spaces"}, "barcode"),
])
def test_malformed_claims_are_422_problems_naming_the_field(harness, fields, field):
    connection = claims_connection(harness)
    response = claim(harness, connection, **fields)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "claim_invalid" and field in {e["field"] for e in body["errors"]}
    assert recorded(harness)[-1].outcome == "invalid"


def test_a_json_body_that_is_not_an_object_is_422(harness):
    connection = claims_connection(harness)
    response = harness.client.post(f"/claim/{connection.claim_slug}", data="[1]", content_type="application/json")
    assert response.status_code == 422


# -- abuse ---------------------------------------------------------------------
def test_claims_are_rate_limited_per_address_with_retry_after(tmp_path):
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", claim_address_rate_limit="3/0.01")
    try:
        connection = claims_connection(harness)
        statuses = [claim(harness, connection, receipt=f"R{n}", email="alice@example.com").status_code
                    for n in range(4)]
        assert statuses == [404, 404, 404, 429]
        limited = claim(harness, connection, email="alice@example.com")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.get_json()["code"] == "rate_limited"
        assert [a.outcome for a in recorded(harness)][-2:] == ["rate_limited", "rate_limited"]
    finally:
        harness.close()


def test_claims_are_rate_limited_per_connection(tmp_path):
    harness = Harness(f"sqlite:///{tmp_path / 'b.db'}", claim_rate_limit="2/0.01")
    try:
        connection = claims_connection(harness)
        other = claims_connection(harness)
        statuses = [claim(harness, connection, email="alice@example.com").status_code for _ in range(3)]
        assert statuses == [404, 404, 429]
        assert claim(harness, other, email="alice@example.com").status_code == 404  # its own bucket
    finally:
        harness.close()


def test_logs_never_carry_the_full_identity(harness, caplog):
    connection = claims_connection(harness)
    anonymous_sale(harness, connection)
    with caplog.at_level(logging.INFO, logger="bridge"):
        claim(harness, connection, email="alice@example.com")
        claim(harness, connection, receipt="NOPE", phone="+61412345678")
    text = caplog.text
    assert "alice@example.com" not in text and "+61412345678" not in text
    assert "a***@example.com" in text


@pytest.mark.services
def test_twenty_simultaneous_claims_of_one_receipt_award_once(fresh_postgres_db):
    # One address sending 20 at once: its rate limit is off here, the store alone decides.
    harness = Harness(fresh_postgres_db, claim_address_rate_limit="off")
    try:
        connection = claims_connection(harness)
        anonymous_sale(harness, connection)
        gate = threading.Barrier(20)

        def one(n: int):
            client = harness.app.test_client()
            gate.wait()
            return claim(harness, connection, client=client,
                         email="alice@example.com" if n % 2 else "bob@example.com").status_code

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            statuses = sorted(pool.map(one, range(20)))
        assert statuses == [200] + [404] * 19
        assert len(harness.ledger()) == 1
        assert sorted(a.outcome for a in recorded(harness)) == ["claimed"] + ["not_found"] * 19
    finally:
        harness.close()


# -- the core does not know the claimant: sign up, then claim again ------------
def test_unknown_customer_is_told_to_sign_up_and_the_same_claim_then_succeeds(harness):
    connection = claims_connection(harness, signup_url="https://cafe.example.com/join")
    anonymous_sale(harness, connection)
    first = claim(harness, connection, email="newcomer@example.com")
    assert first.status_code == 404
    assert first.get_json() == {"status": "customer_not_found", "signup_url": "https://cafe.example.com/join"}
    [tx] = harness.transactions()
    assert tx.status == "unmatched" and tx.customer_email is None  # claimable, its own (no) customer back
    assert harness.sandbox("post", "orgs/demo-cafe/customers",
                           json={"id": "cus_new", "email": "newcomer@example.com"}).status_code == 201
    second = claim(harness, connection, email="newcomer@example.com")
    assert second.status_code == 200 and second.get_json()["earned_points"] == 25
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_new" and award["idempotency_key"] == tx.idempotency_key
    assert [a.outcome for a in recorded(harness)] == ["customer_unknown", "claimed"]


# -- claims and late identities never award twice -------------------------------
def test_a_late_identity_after_a_claim_awards_nothing_more(harness):
    connection = claims_connection(harness)
    anonymous_sale(harness, connection, "PAYboth")
    assert claim(harness, connection, email="alice@example.com").status_code == 200

    def later(doc):
        doc["event_id"] = "evt-later"
        doc["data"]["object"]["payment"].update(id="PAYboth", version=5, buyer_email_address="bob@example.com")
    harness.post_fixture(connection.id, "payment.created.completed-no-customer", mutate=later)
    harness.drain()
    assert len(harness.ledger()) == 1


# -- support: revoke before delivery -------------------------------------------
def test_support_revokes_a_claim_still_waiting_for_the_core(harness):
    connection = claims_connection(harness)
    anonymous_sale(harness, connection)
    harness.sandbox("post", "faults", json={"api": "xtarly", "status": 503, "count": 1})
    held = claim(harness, connection, email="bob@example.com")
    assert held.status_code == 202 and held.get_json() == {"status": "pending"}
    [attempt] = recorded(harness)
    assert attempt.outcome == "pending"
    revoked = claims.revoke(harness.db, attempt.id, "support:ana")
    assert revoked.outcome == "revoked"
    [tx] = harness.transactions()
    assert (tx.status, tx.customer_email) == ("unmatched", None)
    with pytest.raises(claims.ClaimNotRevocable):
        claims.revoke(harness.db, attempt.id, "support:ana")
    harness.make_due()
    harness.sweep_and_drain()
    assert harness.ledger() == []  # the revoked claim is never sent
    assert claim(harness, connection, email="alice@example.com").status_code == 200
    with pytest.raises(claims.ClaimNotRevocable, match="claimed"):
        claims.revoke(harness.db, recorded(harness)[-1].id, "support:ana")
    assert harness.ledger()[0]["customer_id"] == "cus_alice"
