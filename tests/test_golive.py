"""Going live: `connections check` (awards nothing) and `connections test` (one
real, marked test transaction), through the library, the CLI and the admin API.

The loyalty core is the sandbox: mounted in the app over WSGI (harness.http),
or on a real loopback port where a socket matters (refused, TLS, timeouts).
Vendor APIs are faked at the HTTP layer with respx.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import httpx
import pytest
import respx
from click.testing import CliRunner

from bridge import views
from bridge.cli import main
from bridge.errors import ConfigError, ConnectionNotActive, UnknownConnection
from bridge.golive import run_check, run_test
from bridge.golive.test_transaction import customer_identity
from bridge.sandbox import create_sandbox_app
from bridge.store.tables import ConnectionRow
from tests.services import free_port
from tests.support import SANDBOX, Harness, LiveServer

TOKEN = "admin-secret-token"


def _check(h: Harness, connection_id: str, http: httpx.Client | None = None, **config):
    cfg = replace(h.config, **config) if config else h.config
    return run_check(h.db, cfg, connection_id, http=h.http if http is None else http)


def _item(report: dict, name: str) -> dict:
    [item] = [item for item in report["checks"] if item["name"] == name]
    return item


def _requests(h: Harness, api: str) -> dict:
    return h.sandbox("get", "requests").get_json()["by_api"].get(api, {}).get("by_status", {})


def _balance(h: Harness, org: str, customer_id: str) -> int:
    [found] = [o for o in h.sandbox("get", "orgs").get_json() if o["org"] == org]
    [customer] = [c for c in found["customers"] if c["id"] == customer_id]
    return customer["points"]


@pytest.fixture
def live_core():
    server = LiveServer(create_sandbox_app())
    yield server
    server.close()


@pytest.fixture
def real_http():
    client = httpx.Client(follow_redirects=False)
    yield client
    client.close()


# -- check: the loyalty core -------------------------------------------------
@pytest.mark.parametrize("target", ["xtarly", "cockato"])
def test_check_passes_when_the_core_accepts_the_key_and_awards_nothing(harness, target):
    connection = harness.add_connection(target=target)
    report = _check(harness, connection.id)
    assert report["ok"] is True, report
    assert set(report) == {"ok", "checks"}
    assert all(set(item) == {"name", "ok", "detail", "fix"} for item in report["checks"])
    assert all(item["fix"] is None for item in report["checks"])
    names = [item["name"] for item in report["checks"]]
    assert {"loyalty_core", "target_url", "signing_key", "public_url"} <= set(names)
    assert "accepted the key" in _item(report, "loyalty_core")["detail"]
    # The probe reached the core (404 for the random customer, 401 for the made-up control key) ...
    assert _requests(harness, target) == {"404": 1, "401": 1}
    # ... and nothing was awarded or stored.
    assert harness.ledger() == []
    assert harness.events() == [] and harness.transactions() == []


def test_the_cockato_probe_names_a_random_barcode_and_nothing_else(harness):
    connection = harness.add_connection(target="cockato")
    seen = []
    inner = harness.http

    def spy(request: httpx.Request):
        seen.append(request)
        return inner._transport.handle_request(request)

    with httpx.Client(transport=httpx.MockTransport(spy), base_url=str(inner.base_url)) as client:
        assert _check(harness, connection.id, http=client)["ok"]
    body = json.loads(seen[0].content)
    assert set(body) == {"barcode", "amount"} and body["amount"] == 0
    assert body["barcode"].startswith("LB-CHECK-") and body["barcode"] not in ("LOYAL-0001", "LOYAL-0002")
    assert seen[0].headers["x-api-key"] == "cockato_demo"


@pytest.mark.parametrize("target", ["xtarly", "cockato"])
def test_check_reports_a_rejected_key_with_the_fix_and_does_not_pause(harness, target):
    connection = harness.add_connection(target=target, target_key=f"{target}_wrong_key")
    report = _check(harness, connection.id)
    assert report["ok"] is False
    core = _item(report, "loyalty_core")
    assert core["ok"] is False and "rejected the API key" in core["detail"] and "401" in core["detail"]
    assert f"bridge connections rotate-key {connection.id} --target-key KEY" in core["fix"]
    if target == "xtarly":
        assert core["fix"].startswith("Xtarly rejected the API key: generate a new key under "
                                      "Settings → General → POS Integration")
    assert harness.ledger() == []
    with harness.db.session() as session:
        assert session.get(ConnectionRow, connection.id).status == "active"


def test_check_reports_an_unreachable_core(harness, real_http):
    connection = harness.add_connection(target_url=f"http://127.0.0.1:{free_port()}/xtarly")
    core = _item(_check(harness, connection.id, http=real_http), "loyalty_core")
    assert core["ok"] is False and "refused the connection" in core["detail"]
    assert "host and port" in core["fix"]


def test_check_reports_a_core_answering_500(harness):
    connection = harness.add_connection()
    assert harness.sandbox("post", "faults", json={"api": "xtarly", "status": 500}).status_code == 201
    report = _check(harness, connection.id)
    core = _item(report, "loyalty_core")
    assert report["ok"] is False and core["ok"] is False
    assert "500" in core["detail"] and "INJECTED_FAULT" in core["detail"] and "failing" in core["detail"]
    assert "run the check again" in core["fix"]
    assert harness.ledger() == []


def test_check_reports_a_tls_failure(harness, live_core, real_http):
    https_to_plain = live_core.url.replace("http://", "https://") + "/xtarly"
    connection = harness.add_connection(target_url=https_to_plain)
    core = _item(_check(harness, connection.id, http=real_http), "loyalty_core")
    assert core["ok"] is False and core["detail"].startswith("TLS: the handshake with 127.0.0.1:")
    assert "scheme and port" in core["fix"]
    assert httpx.get(f"{live_core.url}/_sandbox/ledger").json() == []


def test_check_reports_a_timeout(harness, live_core, real_http):
    connection = harness.add_connection(target_url=f"{live_core.url}/xtarly")
    httpx.post(f"{live_core.url}/_sandbox/faults", json={"api": "xtarly", "delay": 1.5})
    core = _item(_check(harness, connection.id, http=real_http, delivery_timeout_seconds=0.3), "loyalty_core")
    assert core["ok"] is False and "did not answer within 0.3 s" in core["detail"]


def test_check_reports_dns_failure(harness, real_http):
    connection = harness.add_connection(target_url="http://core.does-not-exist.invalid/xtarly")
    core = _item(_check(harness, connection.id, http=real_http), "loyalty_core")
    assert core["ok"] is False and core["detail"].startswith("DNS: core.does-not-exist.invalid does not resolve")


def test_check_catches_a_url_that_is_not_the_api(harness):
    # The sandbox answers 404 JSON to any unknown path: only the made-up key shows it checks no key.
    connection = harness.add_connection(target_url=f"{SANDBOX}/not-xtarly")
    core = _item(_check(harness, connection.id), "loyalty_core")
    assert core["ok"] is False and "even to a made-up key" in core["detail"]
    assert "target URL" in core["fix"]


def test_check_refuses_to_probe_a_private_target_when_not_allowed(harness, live_core, real_http):
    connection = harness.add_connection(target_url=f"{live_core.url}/xtarly")
    report = _check(harness, connection.id, http=real_http, allow_private_targets=False)
    assert _item(report, "target_url")["ok"] is False
    assert "private network" in _item(report, "target_url")["detail"]
    assert _item(report, "loyalty_core")["detail"].startswith("not probed")
    assert httpx.get(f"{live_core.url}/_sandbox/requests").json()["total"] == 0


def test_check_paused_connection_is_not_ready(harness):
    connection = harness.add_connection()
    with harness.db.session() as session:
        row = session.get(ConnectionRow, connection.id)
        row.status, row.status_reason = "paused", "connection paused: Xtarly rejected the API key (401)"
    report = _check(harness, connection.id)
    item = _item(report, "connection_active")
    assert report["ok"] is False and item["ok"] is False and "paused" in item["detail"]
    assert "rotate-key" in item["fix"]
    assert _item(report, "loyalty_core")["ok"] is True  # the key works now: rotate it in to resume


def test_check_unknown_connection(harness):
    with pytest.raises(UnknownConnection, match="no connection 'con_nope'"):
        _check(harness, "con_nope")


# -- check: the vendor side and the public URL --------------------------------
def test_public_url_must_be_https_unless_loopback(harness):
    connection = harness.add_connection()
    assert _item(_check(harness, connection.id), "public_url")["ok"] is True
    plain = _item(_check(harness, connection.id, public_url="http://pos.example.com"), "public_url")
    assert plain["ok"] is False and "plain http" in plain["detail"] and "BRIDGE_PUBLIC_URL=https://" in plain["fix"]
    local = _item(_check(harness, connection.id, public_url="http://127.0.0.1:8000"), "public_url")
    assert local["ok"] is True and "loopback" in local["detail"]


def test_signing_key_present_missing_and_unsigned(harness):
    square = harness.add_connection()
    assert _item(_check(harness, square.id), "signing_key")["ok"] is True
    with harness.db.session() as session:
        session.get(ConnectionRow, square.id).signing_keys = harness.db.sealer.seal("[]")
    missing = _item(_check(harness, square.id), "signing_key")
    assert missing["ok"] is False and "no signing key" in missing["detail"]
    assert f"rotate-key {square.id} --signing-key KEY" in missing["fix"]
    unsigned = harness.add_connection(vendor="lightspeed", signing_keys=(), vendor_token="ls-token",
                                      settings={"auth": "unsigned", "api_base_url": "https://ls.fake.test"})
    with respx.mock(base_url="https://ls.fake.test") as mock:
        mock.get("/api/2.0/retailer").mock(return_value=httpx.Response(200, json={"data": {"name": "Shop"}}))
        item = _item(_check(harness, unsigned.id), "signing_key")
    assert item["ok"] is True and "does not sign" in item["detail"]


def test_no_vendor_token_is_fine_and_generic_has_no_vendor_api(harness):
    square = harness.add_connection()
    item = _item(_check(harness, square.id), "vendor_api")
    assert item["ok"] is True and "no Square API token" in item["detail"]
    generic = harness.add_connection(vendor="generic", signing_keys=())
    names = [i["name"] for i in _check(harness, generic.id)["checks"]]
    assert "vendor_api" not in names and "signing_key" in names


SQUARE_API = "https://square-fake.test"


@pytest.mark.parametrize("status, ok, fragment", [
    (200, True, "2 location(s): Main St, Airport"),
    (401, False, "Square rejected the access token (401)"),
    (403, False, "MERCHANT_PROFILE_READ"),
    (503, False, "answered 503"),
])
def test_square_token_is_checked_by_listing_locations(harness, status, ok, fragment):
    connection = harness.add_connection(vendor_token="EAAA-square-token", settings={"api_base_url": SQUARE_API})
    body = ({"locations": [{"id": "L1", "name": "Main St"}, {"id": "L2", "name": "Airport"}]} if status == 200
            else {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED"}]})
    with respx.mock(base_url=SQUARE_API, assert_all_called=True) as mock:
        route = mock.get("/v2/locations").mock(return_value=httpx.Response(status, json=body))
        item = _item(_check(harness, connection.id), "vendor_api")
    assert route.calls.last.request.headers["authorization"] == "Bearer EAAA-square-token"
    assert route.call_count == 1  # no SDK retries on top of ours
    assert item["ok"] is ok and fragment in item["detail"]
    if status == 401:
        assert f"rotate-key {connection.id} --vendor-token TOKEN" in item["fix"]


LS_API = "https://shop.lightspeed-fake.test"


@pytest.mark.parametrize("status, ok, fragment", [
    (200, True, "accepted the token (retailer Demo Shop)"),
    (401, False, "refused the connection's token (401)"),
    (404, False, "domain prefix is wrong"),
    (500, False, "answered 500"),
])
def test_lightspeed_token_is_checked_with_the_retailer_call(harness, status, ok, fragment):
    connection = harness.add_connection(vendor="lightspeed", signing_keys=("ls-client-secret",),
                                        vendor_token="ls-personal-token", settings={"api_base_url": LS_API})
    with respx.mock(base_url=LS_API, assert_all_called=True) as mock:
        route = mock.get("/api/2.0/retailer").mock(return_value=httpx.Response(
            status, json={"data": {"name": "Demo Shop", "currency": {"code": "AUD"}}}))
        item = _item(_check(harness, connection.id), "vendor_api")
    assert route.calls.last.request.headers["authorization"] == "Bearer ls-personal-token"
    assert item["ok"] is ok and fragment in item["detail"], item
    if status == 401:
        assert "--vendor-token" in item["fix"]


@pytest.mark.parametrize("status, ok, fragment", [
    (200, True, "issued a machine-client token"),
    (401, False, "refused the API client credentials (401)"),
])
def test_toast_credentials_are_checked_by_obtaining_a_token(harness, status, ok, fragment):
    host = f"https://toast-{uuid.uuid4().hex[:8]}.fake.test"  # the token cache is per host and client
    connection = harness.add_connection(vendor="toast", signing_keys=("toast-secret",),
                                        vendor_token="client-id:client-secret", settings={"api_base_url": host})
    with respx.mock(base_url=host, assert_all_called=True) as mock:
        route = mock.post("/authentication/v1/authentication/login").mock(return_value=httpx.Response(
            status, json={"token": {"accessToken": "tok", "expiresIn": 86400}} if status == 200 else {}))
        item = _item(_check(harness, connection.id), "vendor_api")
    sent = json.loads(route.calls.last.request.content)
    assert sent == {"clientId": "client-id", "clientSecret": "client-secret", "userAccessType": "TOAST_MACHINE_CLIENT"}
    assert item["ok"] is ok and fragment in item["detail"]
    if not ok:
        assert "--vendor-token CLIENT_ID:CLIENT_SECRET" in item["fix"]


# -- test: one real, marked test transaction ----------------------------------
def test_a_test_transaction_awards_once_and_reports_points_and_balance(harness):
    connection = harness.add_connection()
    before = _balance(harness, "demo-cafe", "cus_alice")
    result = run_test(harness.db, harness.config, connection.id, "Alice@Example.com", http=harness.http)
    assert result["ok"] is True and result["status"] == "delivered"
    assert result["earned_points"] == 1 and result["balance"] == before + 1
    assert result["idempotency_key"].startswith("lbtest_")
    assert result["response"]["data"]["earnedPoints"] == 1
    [award] = harness.ledger()
    assert award["idempotency_key"] == result["idempotency_key"] and award["amount"] == 100
    assert award["metadata"]["test"] is True and award["metadata"]["source"] == "loyalty-bridge"
    assert award["metadata"]["reference"].startswith("loyalty-bridge test ")
    # Recorded as an event of its own, with its transaction and attempt; never a sale from the POS.
    [listed] = views.list_events(harness.db)[0]
    assert listed["source"] == "test" and listed["event_type"] == "test" and listed["status"] == "delivered"
    assert listed["attempts"] == 1 and listed["id"] == result["event_id"]
    shown = views.show_event(harness.db, result["event_id"])
    [tx] = shown["transactions"]
    assert tx["idempotency_key"] == result["idempotency_key"] and tx["metadata"]["test"] is True
    # The sweeper has nothing left to do with it.
    harness.make_due()
    harness.sweep_and_drain()
    assert len(harness.ledger()) == 1


def test_a_second_test_is_a_second_transaction(harness):
    connection = harness.add_connection()
    first = run_test(harness.db, harness.config, connection.id, "alice@example.com", http=harness.http)
    second = run_test(harness.db, harness.config, connection.id, "alice@example.com", http=harness.http)
    assert first["idempotency_key"] != second["idempotency_key"]
    assert second["balance"] == first["balance"] + 1
    assert [entry["idempotency_key"] for entry in harness.ledger()] == [first["idempotency_key"],
                                                                        second["idempotency_key"]]
    assert len(harness.events()) == 2


def test_an_unknown_customer_reports_the_cores_404(harness):
    connection = harness.add_connection()
    result = run_test(harness.db, harness.config, connection.id, "nobody@example.com", http=harness.http)
    assert result["ok"] is False and result["status"] == "unmatched" and result["status_code"] == 404
    assert "Xtarly answered 404 NOT_FOUND" in result["reason"]
    assert result["response"]["error"]["code"] == "NOT_FOUND"
    assert result["earned_points"] is None and result["balance"] is None
    assert harness.ledger() == []


@pytest.mark.parametrize("customer, expected_points", [("LOYAL-0001", 1), ("+61412345678", 1)])
def test_cockato_by_barcode_or_phone(harness, customer, expected_points):
    connection = harness.add_connection(target="cockato", currency="AUD")
    result = run_test(harness.db, harness.config, connection.id, customer, "1.50", http=harness.http)
    assert result["ok"] is True and result["earned_points"] == expected_points
    [award] = harness.ledger()
    assert award["customer_id"] == "cus_alice" and award["amount"] == 150 and award["currency"] == "AUD"
    assert award["reference"].startswith("loyalty-bridge test ") and award["metadata"]["test"] is True


def test_cockato_unknown_barcode_is_its_404(harness):
    connection = harness.add_connection(target="cockato")
    result = run_test(harness.db, harness.config, connection.id, "NO-SUCH-CARD", http=harness.http)
    assert result["status"] == "unmatched" and "404 CUSTOMER_NOT_FOUND" in result["reason"]


def test_customer_shapes():
    assert customer_identity(" Bob@Example.com ") == {"email": "bob@example.com"}
    assert customer_identity("+61 412 345 678") == {"phone": "+61412345678"}
    assert customer_identity("LOYAL-0001") == {"barcode": "LOYAL-0001"}
    assert customer_identity("0412345678") == {"barcode": "0412345678"}  # not E.164: a card number
    with pytest.raises(ConfigError):
        customer_identity("+1 555")
    with pytest.raises(ConfigError):
        customer_identity("bob@")


def test_xtarly_cannot_match_a_barcode_and_nothing_is_recorded(harness):
    connection = harness.add_connection()
    with pytest.raises(ConfigError, match="Xtarly matches customers by email"):
        run_test(harness.db, harness.config, connection.id, "LOYAL-0001", http=harness.http)
    assert harness.events() == [] and harness.ledger() == []


@pytest.mark.parametrize("amount, fragment", [("abc", "not a decimal"), ("1.005", "more decimals"),
                                              ("0", "more than zero")])
def test_bad_amounts_are_clear(harness, amount, fragment):
    connection = harness.add_connection()
    with pytest.raises(ConfigError, match=fragment):
        run_test(harness.db, harness.config, connection.id, "alice@example.com", amount, http=harness.http)


def test_a_test_is_sent_once_a_500_is_not_retried_later(harness):
    connection = harness.add_connection()
    harness.sandbox("post", "faults", json={"api": "xtarly", "status": 500})
    result = run_test(harness.db, harness.config, connection.id, "alice@example.com", http=harness.http)
    assert result["status"] == "failed" and "not retried" in result["reason"] and "500" in result["reason"]
    harness.make_due()
    harness.sweep_and_drain()
    assert harness.ledger() == []
    assert harness.transactions()[0].status == "failed"


def test_a_rejected_key_fails_the_test_and_the_test_is_never_resumed(harness):
    connection = harness.add_connection(target_key="xtarly_wrong_key")
    result = run_test(harness.db, harness.config, connection.id, "alice@example.com", http=harness.http)
    assert result["status"] == "failed" and "rejected the API key" in result["reason"]
    with pytest.raises(ConnectionNotActive, match="paused"):  # a 401 pauses the connection, as for sales
        run_test(harness.db, harness.config, connection.id, "alice@example.com", http=harness.http)
    from bridge import connections
    connections.rotate(harness.db, connection.id, target_key="xtarly_pos_demo")
    harness.make_due()
    harness.sweep_and_drain()
    assert harness.ledger() == []  # the failed test stays failed; nothing was held for the resume


# -- the CLI ----------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "https://pos.example.com")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("BRIDGE_ALLOW_PRIVATE_TARGETS", raising=False)
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == expect, result.output
        assert "Traceback" not in result.output
        return result
    return invoke


def _cli_connection(cli, live_core, key: str = "xtarly_pos_demo") -> str:
    made = cli("connections", "add", "--vendor", "square", "--name", "Cafe", "--target", "xtarly",
               "--target-url", f"{live_core.url}/xtarly", "--target-key", key, "--signing-key", "sq-key-12345",
               "--json")
    return json.loads(made.stdout)["id"]


def test_cli_check_json_and_exit_codes(cli, live_core):
    good = _cli_connection(cli, live_core)
    report = json.loads(cli("connections", "check", good, "--json").stdout)
    assert report["ok"] is True and set(report) == {"ok", "checks"}
    assert all(set(item) == {"name", "ok", "detail", "fix"} for item in report["checks"])
    bad = _cli_connection(cli, live_core, key="xtarly_pos_revoked")
    report = json.loads(cli("connections", "check", bad, "--json", expect=1).stdout)
    assert report["ok"] is False and _item(report, "loyalty_core")["fix"].startswith("Xtarly rejected the API key")
    human = cli("connections", "check", bad, expect=1).output
    assert "✗ loyalty_core" in human and "fix: Xtarly rejected the API key" in human
    assert "no connection 'con_nope'" in cli("connections", "check", "con_nope", expect=2).output
    assert httpx.get(f"{live_core.url}/_sandbox/ledger").json() == []


def test_cli_test_json_exit_codes_and_events_list(cli, live_core):
    connection = _cli_connection(cli, live_core)
    result = json.loads(cli("connections", "test", connection, "--customer", "bob@example.com", "--amount", "2.00",
                            "--json").stdout)
    assert {"ok", "status", "earned_points", "balance", "idempotency_key", "response"} <= set(result)
    assert result["ok"] is True and result["earned_points"] == 2 and result["balance"] is not None
    human = cli("connections", "test", connection, "--customer", "bob@example.com").output
    assert "delivered: 1 point(s) earned, new balance" in human
    missing = json.loads(cli("connections", "test", connection, "--customer", "nobody@example.com", "--json",
                             expect=1).stdout)
    assert missing["status"] == "unmatched" and "404" in missing["reason"]
    assert "404 NOT_FOUND" in cli("connections", "test", connection, "--customer", "nobody@example.com",
                                  expect=1).output
    assert "no connection" in cli("connections", "test", "con_nope", "--customer", "a@b.co", expect=2).output
    assert "Xtarly matches customers by email" in cli("connections", "test", connection, "--customer",
                                                      "LOYAL-0001", expect=2).output
    events = json.loads(cli("events", "list", "--json").stdout)
    assert [e["source"] for e in events] == ["test", "test", "test", "test"]
    assert sorted(e["status"] for e in events) == ["delivered", "delivered", "unmatched", "unmatched"]
    ledger = httpx.get(f"{live_core.url}/_sandbox/ledger").json()
    assert len(ledger) == 2 and ledger[0]["idempotency_key"] == result["idempotency_key"]


# -- the admin API ------------------------------------------------------------------
@pytest.fixture
def api(tmp_path):
    h = Harness(f"sqlite:///{tmp_path / 'api.db'}", admin_token=TOKEN)
    h.app.extensions["golive_http"] = h.http
    h.auth = {"Authorization": f"Bearer {TOKEN}"}
    yield h
    h.close()


def test_api_check_route(api):
    connection = api.add_connection()
    url = f"/api/connections/{connection.id}/check"
    assert api.client.post(url).status_code == 401
    response = api.client.post(url, headers=api.auth)
    assert response.status_code == 200 and response.get_json()["ok"] is True
    assert set(response.get_json()) == {"ok", "checks"}
    missing = api.client.post("/api/connections/con_nope/check", headers=api.auth)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert "con_nope" in missing.get_json()["detail"]
    assert api.ledger() == []


def test_api_test_route(api):
    connection = api.add_connection()
    url = f"/api/connections/{connection.id}/test"
    assert api.client.post(url, json={"customer": "alice@example.com"}).status_code == 401
    response = api.client.post(url, json={"customer": "alice@example.com", "amount": "3.00"}, headers=api.auth)
    body = response.get_json()
    assert response.status_code == 200 and body["ok"] is True and body["earned_points"] == 3
    assert {"ok", "status", "earned_points", "balance", "idempotency_key", "response"} <= set(body)
    unknown = api.client.post(url, json={"customer": "nobody@example.com"}, headers=api.auth).get_json()
    assert unknown["ok"] is False and unknown["status"] == "unmatched"
    bad = api.client.post(url, json={}, headers=api.auth)
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    assert api.client.post(url, data="nope", headers=api.auth).status_code == 400
    assert api.client.post("/api/connections/con_nope/test", json={"customer": "a@b.co"},
                           headers=api.auth).status_code == 404
    [event, _] = api.client.get("/api/events", headers=api.auth).get_json()["events"]
    assert event["source"] == "test"
    assert len(api.ledger()) == 1


def test_api_test_route_without_a_token_answers_loopback_only(harness):
    harness.app.extensions["golive_http"] = harness.http
    connection = harness.add_connection()
    url = f"/api/connections/{connection.id}/check"
    assert harness.client.post(url, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    assert harness.client.post(url, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
