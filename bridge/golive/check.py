"""`bridge connections check ID`: the go-live checklist. It awards nothing.

Each item says what was checked, whether it passed and, when it did not, the
one sentence that fixes it. The loyalty core is probed with a request that
cannot award (docs/go-live.md):

- Xtarly: `GET {base}/customer/<random id>`: its 404 NOT_FOUND means the key
  was accepted (authentication comes first), 401 that it was rejected;
- Cockato: its only call is the transaction POST, so the probe is one for a
  random barcode that no customer has, amount 0 and no other identity: 404
  "customer not found" means the key was accepted. Nothing can be awarded to
  a customer who does not exist.

A second, control probe sends the same request with a made-up key and must
be refused (401/403): a wrong path on the right host answers 404 to anything,
and only an API that checks keys makes our 404 mean "key accepted".

The probes never go through the delivery pipeline: a rejected key is
reported, the connection is not paused, nothing is stored.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import ssl
from dataclasses import dataclass
from typing import NamedTuple, Any
from urllib.parse import urlsplit

import httpx

from bridge import connections, egress, registry
from bridge.clients import client_for
from bridge.clients.cockato import FIELDS as COCKATO_FIELDS
from bridge.config import Config
from bridge.contract import ConnectionContext
from bridge.errors import BridgeError, ConfigError, UnknownConnection
from bridge.store import Database
from bridge.store.sealing import mask
from bridge.store.tables import ConnectionRow

PROBE_PREFIX = "lb-check-"
CONTROL_KEY = "lb-check-not-a-key"
ROTATE_TARGET = "bridge connections rotate-key {id} --target-key KEY"
ROTATE_VENDOR = "bridge connections rotate-key {id} --vendor-token TOKEN"
ROTATE_SIGNING = "bridge connections rotate-key {id} --signing-key KEY"

# Where a merchant makes a new loyalty-core key, per target.
NEW_TARGET_KEY = {
    "xtarly": "generate a new key under Settings → General → POS Integration",
    "cockato": "copy the POS API key from your Cockato dashboard's integration settings",
}
TARGET_URL_HINT = {
    "xtarly": "the POS integration base URL, e.g. https://www.xtarly.com/api/integrations/pos "
              "(the bridge appends /customer/ID and /transaction)",
    "cockato": "the full pos-transaction endpoint, e.g. "
               "https://<project>.supabase.co/functions/v1/pos-transaction",
}


class VendorCheck(NamedTuple):
    """What a connector's `check_vendor_api` answers."""

    ok: bool
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class Item:
    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": None if self.ok else self.fix}


def load_connection(db: Database, connection_id: str) -> ConnectionRow:
    with db.session() as session:
        row = connections.get(session, connection_id)
    if row is None:
        raise UnknownConnection(f"no connection {connection_id!r}")
    return row


def run_check(db: Database, config: Config, connection_id: str,
              http: httpx.Client | None = None) -> dict[str, Any]:
    """`{"ok", "checks": [{"name", "ok", "detail", "fix"}]}`; ok only when every item passed.

    `http`: the client for the loyalty-core probe (tests pass one onto the
    sandbox); by default a fresh one, no redirects followed, as deliveries.
    """
    row = load_connection(db, connection_id)
    ctx = connections.context(db, row)
    items = [_status_item(row)]
    target_ok = _target_url_item(row, config)
    items.append(target_ok)
    if target_ok.ok:
        own = http is None
        client = http or egress.target_client(config.delivery_timeout_seconds, config.allow_private_targets)
        try:
            items.append(probe_core(row, db.sealer.open(row.target_key), client, config.delivery_timeout_seconds))
        finally:
            if own:
                client.close()
    else:
        items.append(Item("loyalty_core", False, "not probed: the bridge refuses to send to this target URL "
                          "(see target_url)", target_ok.fix))
    items.append(_signing_item(row, ctx))
    vendor = _vendor_api_item(row, ctx)
    if vendor is not None:
        items.append(vendor)
    items.append(_public_url_item(row, config))
    return {"ok": all(item.ok for item in items), "checks": [item.as_dict() for item in items]}


# -- the connection itself -----------------------------------------------------
def _status_item(row: ConnectionRow) -> Item:
    if row.status == "active":
        return Item("connection_active", True, "the connection is active")
    reason = f" ({row.status_reason})" if row.status_reason else ""
    if row.status == "paused":
        fix = (f"once the key is right, run `{ROTATE_TARGET.format(id=row.id)}` (a new target key resumes it) "
               f"or resume it with POST /api/connections/{row.id}/resume")
    else:
        fix = f"resume it with POST /api/connections/{row.id}/resume (or the dashboard) when it should deliver again"
    return Item("connection_active", False, f"the connection is {row.status}{reason}: sales are held, not delivered",
                fix)


def _target_url_item(row: ConnectionRow, config: Config) -> Item:
    try:
        connections.check_target_url(row.target_url, config.allow_private_targets)
    except ConfigError as refused:
        if "private network" in refused.message:
            fix = ("use the loyalty core's public URL, or set BRIDGE_ALLOW_PRIVATE_TARGETS=1 if the core "
                   "really runs on your own network")
        elif "does not resolve" in refused.message:
            fix = f"check the host name in the target URL: it must be {TARGET_URL_HINT[row.target_kind]}"
        else:
            fix = f"create the connection again with --target-url set to {TARGET_URL_HINT[row.target_kind]}"
        return Item("target_url", False, refused.message, fix)
    allowed = " (private networks allowed: BRIDGE_ALLOW_PRIVATE_TARGETS)" if config.allow_private_targets else ""
    return Item("target_url", True, f"{row.target_url} passes the private-network rule{allowed}")


# -- the loyalty core ----------------------------------------------------------
def probe_request(row: ConnectionRow, target_key: str) -> tuple[str, str, dict[str, str], dict | None]:
    """The request that cannot award: method, URL, headers, JSON body."""
    probe_id = PROBE_PREFIX + secrets.token_hex(12)
    if row.target_kind == "xtarly":
        return ("GET", f"{row.target_url.rstrip('/')}/customer/{probe_id}",
                {"X-API-Key": target_key, "Accept": "application/json"}, None)
    # Cockato: one transaction for a barcode no customer has; amount 0 and no
    # other identity, so even a match could earn nothing.
    return ("POST", row.target_url,
            {"x-api-key": target_key, "Idempotency-Key": probe_id, "Content-Type": "application/json"},
            {COCKATO_FIELDS["barcode"]: probe_id.upper(), COCKATO_FIELDS["amount"]: 0})


def probe_core(row: ConnectionRow, target_key: str, http: httpx.Client, timeout: float) -> Item:
    client = client_for(row.target_kind)
    name = client.display_name
    method, url, headers, body = probe_request(row, target_key)
    try:
        response = http.request(method, url, headers=headers, json=body, timeout=timeout)
    except httpx.HTTPError as error:
        detail, fix = describe_transport_error(error, url, timeout, name)
        return Item("loyalty_core", False, detail, fix)
    status = response.status_code
    try:
        answer = response.json()
    except ValueError:
        answer = None
    said = client.describe_error(status, answer)
    if status in (401, 403):
        return Item("loyalty_core", False, f"{name} rejected the API key ({said})",
                    f"{name} rejected the API key: {NEW_TARGET_KEY[row.target_kind]} and run "
                    f"`{ROTATE_TARGET.format(id=row.id)}`")
    if status == 404 or status == 400 or 200 <= status < 300:
        if status != 200 and not _core_error_body(answer):
            return Item("loyalty_core", False,
                        f"{url} answered {status} without {name}'s JSON error body: this is not the {name} API",
                        f"check the target URL: it must be {TARGET_URL_HINT[row.target_kind]}")
        unauthenticated = _answers_without_auth(row, http, timeout)
        if unauthenticated is not None:
            return Item("loyalty_core", False,
                        f"{_redacted(url)} answered {unauthenticated} even to a made-up key: it checks no key, "
                        f"so it is not the {name} API",
                        f"check the target URL: it must be {TARGET_URL_HINT[row.target_kind]}")
        how = ("reachable and accepted the key" + (" (the random probe customer was not found, as expected)"
                                                   if status == 404 else f" ({said})"))
        return Item("loyalty_core", True, f"{name} is {how}")
    if 300 <= status < 400:
        location = response.headers.get("location", "?")
        return Item("loyalty_core", False, f"{name} answered {status}, a redirect to {location}: the bridge never "
                    "follows redirects with a sale",
                    f"create the connection with the URL it redirects to as --target-url "
                    f"({TARGET_URL_HINT[row.target_kind]})")
    if status == 429:
        wait = response.headers.get("retry-after")
        return Item("loyalty_core", False, f"{name} is rate-limiting the bridge ({said}"
                    + (f"; Retry-After {wait} s)" if wait else ")"),
                    f"wait {wait or 'a minute'} s and run the check again")
    if status >= 500:
        return Item("loyalty_core", False, f"{name} is failing, whatever the key: {said}",
                    f"the loyalty core has a problem on its side: run the check again in a few minutes, "
                    f"and if it persists contact {name} support with the time of the check")
    return Item("loyalty_core", False, f"{said} to the key probe ({method} {_redacted(url)})",
                f"check the target URL: it must be {TARGET_URL_HINT[row.target_kind]}")


def _answers_without_auth(row: ConnectionRow, http: httpx.Client, timeout: float) -> int | None:
    """The control probe: the same request with a made-up key must get 401/403.

    A wrong path on the right host can answer 404 to anything; only an API
    that refuses a bad key proves that its 404 to ours meant "key accepted".
    Returns the status when the made-up key was not refused.
    """
    method, url, headers, body = probe_request(row, CONTROL_KEY)
    try:
        status = http.request(method, url, headers=headers, json=body, timeout=timeout).status_code
    except httpx.HTTPError:
        return None  # the first probe got through; a blip here proves nothing either way
    return None if status in (401, 403) or status == 429 or status >= 500 else status


def _core_error_body(answer: Any) -> bool:
    """The core's own JSON error shape (`{"success": false, "error": ...}`), not a web server's 404 page."""
    return isinstance(answer, dict) and ("error" in answer or answer.get("success") is False)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _causes(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def describe_transport_error(error: httpx.HTTPError, url: str, timeout: float, name: str) -> tuple[str, str]:
    """One detail per failure: DNS, TLS, refused, connect timeout, read timeout."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{host}:{port}"
    for cause in _causes(error):
        if isinstance(cause, socket.gaierror):
            return (f"DNS: {host} does not resolve ({cause.strerror or cause})",
                    "check the host name in the URL; if it is right, check this server's DNS settings")
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"TLS: the certificate of {where} is not trusted ({cause.verify_message or cause})",
                    (f"the server at {where} must present a valid certificate for {host}; "
                     "check the URL's host, or ask its operator to fix the certificate"))
        if isinstance(cause, ssl.SSLError):
            return (f"TLS: the handshake with {where} failed ({cause.reason or cause})",
                    f"{where} does not speak TLS as the https URL expects: check the URL's scheme and port")
        if isinstance(cause, ConnectionRefusedError):
            return (f"{where} refused the connection: nothing listens there",
                    f"check the URL's host and port; if they are right, {name} is down: try again later")
    if isinstance(error, httpx.ConnectTimeout):
        return (f"could not connect to {where} within {timeout:g} s",
                ("a firewall or proxy may block this server's outbound traffic; check it, or raise "
                 "BRIDGE_DELIVERY_TIMEOUT if the network is just slow"))
    if isinstance(error, httpx.TimeoutException):
        return (f"{name} accepted the connection but did not answer within {timeout:g} s ({type(error).__name__})",
                f"{name} is slow right now: run the check again later, or raise BRIDGE_DELIVERY_TIMEOUT")
    return (f"could not reach {where}: {type(error).__name__}: {error}",
            f"check the URL and this server's outbound network access to {host}")


# -- the vendor side -----------------------------------------------------------
def _signing_item(row: ConnectionRow, ctx: ConnectionContext) -> Item:
    connector = registry.get(row.vendor)
    display = connector.display_name
    if not connector.expects_signature(ctx):
        return Item("signing_key", True, f"{display} does not sign this connection's webhooks (auth=unsigned): "
                    "each sale is re-fetched from the vendor's API before it awards")
    if ctx.signing_keys:
        keys = ", ".join(mask(key) or "…" for key in ctx.signing_keys)
        return Item("signing_key", True, f"{len(ctx.signing_keys)} signing key(s) on file ({keys})")
    source = connector.signing_key_source or f"copy the signing secret {display} issues"
    return Item("signing_key", False, f"{display} signs its webhooks but the connection has no signing key: "
                "every request would be refused (401)",
                f"{source} and run `{ROTATE_SIGNING.format(id=row.id)}`")


def _vendor_api_item(row: ConnectionRow, ctx: ConnectionContext) -> Item | None:
    connector = registry.get(row.vendor)
    if not connector.has_vendor_api:
        return None  # no vendor API to check (generic)
    if not ctx.vendor_token:
        return Item("vendor_api", True, f"no {connector.display_name} API token given: not needed, the webhooks "
                    "carry the sale (--vendor-token adds customer look-ups)")
    if row.vendor_token_rejected_at is not None:
        # Reconciliation saw a 401/403 and stopped; only a new token resumes it.
        return Item("vendor_api", False, f"{connector.display_name} refused the API token on "
                    f"{row.vendor_token_rejected_at:%Y-%m-%d %H:%M} UTC ({row.vendor_token_rejection}); "
                    "reconciliation is stopped", f"run `{ROTATE_VENDOR.format(id=row.id)}` with a working token")
    try:
        ok, detail, fix = connector.check_vendor_api(ctx)
        return Item("vendor_api", ok, detail, fix)
    except BridgeError as error:  # a connector's own refusal (ConfigError...), worded for the operator
        return Item("vendor_api", False, f"{connector.display_name} API: {error.message}",
                    f"fix the vendor token and run `{ROTATE_VENDOR.format(id=row.id)}`")
    except Exception as error:  # noqa: BLE001  (an SDK surprise must not become a traceback)
        return Item("vendor_api", False, f"could not check the {connector.display_name} API: "
                    f"{type(error).__name__}: {error}",
                    "run the check again; if it persists, report it with this detail")


# -- the URL the vendor posts to ------------------------------------------------
def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _public_url_item(row: ConnectionRow, config: Config) -> Item:
    url = connections.webhook_url(config.public_url, row.id)
    parts = urlsplit(url)
    if parts.scheme == "https":
        return Item("public_url", True, f"the vendor posts to {url} (https)")
    if _is_loopback_host(parts.hostname):
        return Item("public_url", True, f"the webhook URL {url} is loopback: fine for trying the bridge here, "
                    "but no vendor on the internet can reach it")
    return Item("public_url", False, f"the webhook URL {url} is plain http: Square and Toast refuse it, and "
                "anyone on the path can read the requests",
                "serve the bridge over https and set BRIDGE_PUBLIC_URL=https://<your host>, then paste the new "
                "webhook URL into the vendor")
