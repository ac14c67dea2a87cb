"""Lightspeed X-Series (formerly Vend) webhooks → canonical transactions.

Facts, with sources, in docs/vendors/lightspeed.md. The ones that shape this
file (WH: x-series-api.lightspeedhq.com/docs/webhooks): the body is
`application/x-www-form-urlencoded` with the object as JSON in the `payload`
field, the only field guaranteed; no event id, type or timestamp header, so
the dedupe key is (sale id, sale `version`) and the type is read from the
payload itself; `sale.update` repeats for one sale (layby, account, void).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

from dataclasses import replace

from bridge.contract import ConnectionContext, Connector, InboundRequest, Parsed, ReconcilePage, ReconcileWindow
from bridge.errors import ConfigError, PayloadError, SkipTransaction
from bridge.model import Kind, Transaction
from bridge.untrusted import get_object, get_str, load_json
from connectors.lightspeed import reconcile, signature
from connectors.lightspeed.sales import (
    VENDOR,
    customer_of,
    looks_like_sale,
    not_awarded_reason,
    sale_transaction,
    version_of,
)

SALE = "sale.update"
FORM = "application/x-www-form-urlencoded"
UNSIGNED = "unsigned"
# The stand-in a token connection's parse hands to enrich, which rebuilds it from the API.
REFETCH = "lightspeed_refetch"
# A reconciled sale came from the API with `customer_id` only: enrich reads the customer.
CUSTOMER_LOOKUP = "lightspeed_customer_lookup"
_PLACEHOLDER_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _refetch(payload: dict, connection: ConnectionContext) -> Parsed:
    return Parsed(SALE, [Transaction(
        connection_id=connection.id, vendor=VENDOR, source_id=get_str(payload, "id"), kind=Kind.SALE,
        amount_minor=0, currency=connection.currency or "XXX", occurred_at=_PLACEHOLDER_TIME,
        source_version=version_of(payload), metadata={REFETCH: True})])


def _api_sale(sale: dict, connection: ConnectionContext) -> Parsed:
    """A sale as `GET /api/2.0/sales` listed it (reconciliation): the API's
    own answer, so it is read as it is, by the same rules as a webhook's;
    only its customer, which the list names by id, is read in enrich."""
    reason = not_awarded_reason(sale)
    if reason:
        return Parsed.skip(SALE, reason)
    if not connection.currency:
        # Minor units need the currency, which only the retailer's API says:
        # enrich re-fetches the sale as it does for a webhook.
        return _refetch(sale, connection)
    result = sale_transaction(sale, None, connection, connection.currency)
    if isinstance(result, str):
        return Parsed.skip(SALE, result)
    if result.kind != Kind.VOID and result.customer.vendor_customer_id:
        result = replace(result, metadata={**result.metadata, CUSTOMER_LOOKUP: True})
    return Parsed(SALE, [result])


def _sale(payload: dict, connection: ConnectionContext) -> Parsed:
    if connection.vendor_token:
        # The retailer's API, not the webhook, is the authority: an unsigned
        # hook proves only that someone knows the URL, and a signature proves
        # the app, not the retailer (one client_secret serves them all).
        return _refetch(payload, connection)
    if _unsigned(connection):
        return Parsed.skip(SALE, "unsigned connection without a Lightspeed token: the sale cannot be confirmed; "
                                 "give it a token (bridge connections rotate-key ID --vendor-token) and replay")
    if "status" not in payload and "state" not in payload:
        return Parsed.skip(SALE, "the payload names the sale but not its contents; give the connection "
                                 "a Lightspeed token so the bridge fetches the sale")
    if not connection.currency:
        return Parsed.skip(SALE, "the connection has no currency and no token to read the retailer's")
    result = sale_transaction(payload, get_object(payload, "customer", required=False),
                              connection, connection.currency)
    return Parsed.skip(SALE, result) if isinstance(result, str) else Parsed(SALE, [result])


HANDLERS: dict[str, Callable[[dict, ConnectionContext], Parsed]] = {SALE: _sale}

IGNORED = {
    "customer.update": "customer.update carries no sale (it also fires when an account balance changes)",
    "product.update": "product.update carries no sale",
    "inventory.update": "inventory.update carries no sale",
    "consignment.send": "stock transfers carry no sale",
    "consignment.receive": "stock received carries no sale",
    "register_closure.create": "a register closure is not a sale",
}


def _event_type(form: dict[str, str], payload: dict) -> str:
    """The payload decides; the optional `type` field only names what it cannot.

    Checked in this order so a signature over the payload alone (one of the
    readings) cannot have an unsigned `type` field turn a sale into a skip.
    """
    if looks_like_sale(payload):
        return SALE
    if "customer_code" in payload:
        return "customer.update"
    if {"handle", "sku", "supply_price"} & payload.keys():
        return "product.update"
    if {"product_id", "outlet_id"} <= payload.keys():
        return "inventory.update"
    if {"register_open_sequence_id", "register_close_time"} & payload.keys():
        return "register_closure.create"
    return form.get("type") or "unrecognised"


def _form(request: InboundRequest) -> dict[str, str]:
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise PayloadError("the form body is not UTF-8") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def _payload(form: dict[str, str]) -> dict:
    text = form.get("payload")
    if not text:
        raise PayloadError("no payload form field", path="payload")
    try:
        # Decimal, never float: payments and taxes[].tax are JSON numbers (EX).
        payload = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise PayloadError(f"malformed JSON at line {error.lineno} column {error.colno}", path="payload") from None
    except RecursionError:
        raise PayloadError("JSON nested too deeply", path="payload") from None
    if not isinstance(payload, dict):
        raise PayloadError("expected a JSON object", path="payload")
    return payload


def _unsigned(connection: ConnectionContext) -> bool:
    # Anything but exactly "unsigned" checks signatures: a typo fails closed.
    return str(connection.setting("auth", "signed")).strip().lower() == UNSIGNED


class LightspeedConnector(Connector):
    slug = "lightspeed"
    display_name = "Lightspeed X-Series"
    aliases = ("vend",)
    handled_event_types = tuple(HANDLERS)
    ignored_event_types = tuple(IGNORED)
    accepted_content_types = (FORM,)
    # check_connection decides: signed connections need the client secret, unsigned ones a token.
    requires_signing_key = False
    # WH: retries run for 48 h; an app secret replaced today may still sign them.
    signing_key_grace_seconds = 48 * 3600.0
    settings = {
        "auth": "signed (default: OAuth app, X-Signature keyed with its client_secret) or unsigned "
                "(personal-token or /setup/api webhook; needs --vendor-token)",
        "domain_prefix": "the store's <prefix>.retail.lightspeed.app, where API calls go (with --vendor-token)",
        "include_tax": "true (default): award total_price + total_tax; false: the tax-exclusive total_price",
    }

    def check_connection(self, connection: ConnectionContext) -> None:
        auth = str(connection.setting("auth", "signed")).strip().lower()
        if auth not in ("signed", UNSIGNED):
            raise ConfigError(f"auth must be signed or unsigned, not {auth!r}")
        if auth == UNSIGNED and not connection.vendor_token:
            raise ConfigError(
                "an unsigned Lightspeed X-Series connection needs --vendor-token: nothing proves an "
                "unsigned webhook, so every sale is re-fetched from the retailer's API before it awards")
        if auth != UNSIGNED and not connection.signing_keys:
            raise ConfigError("Lightspeed X-Series signs OAuth apps' webhooks: pass --signing-key with the "
                              "app's client_secret, or --set auth=unsigned with --vendor-token")
        if not connection.currency and not connection.vendor_token:
            raise ConfigError("Lightspeed X-Series webhooks carry no currency: pass --currency, "
                              "or --vendor-token to read the retailer's")
        if connection.vendor_token and not (connection.setting("domain_prefix") or connection.setting("api_base_url")):
            raise ConfigError("with --vendor-token, --set domain_prefix=<prefix> (from <prefix>.retail.lightspeed.app)")

    signing_key_source = "copy the OAuth app's client secret from the Lightspeed X-Series developer portal"
    has_vendor_api = True

    def check_vendor_api(self, connection: ConnectionContext):
        from connectors.lightspeed.checks import check_vendor_api

        return check_vendor_api(connection)

    def expects_signature(self, connection: ConnectionContext) -> bool:
        # Signed unless exactly `auth=unsigned`: failing closed.
        return str(connection.setting("auth", "signed")).strip().lower() != "unsigned"

    def verify(self, request: InboundRequest, connection: ConnectionContext) -> None:
        if _unsigned(connection):
            return  # the unguessable URL is the only proof; parse re-fetches every sale
        try:
            payload = _form(request).get("payload")
        except PayloadError:
            payload = None
        signature.check(request.header(signature.HEADER), request.body,
                        payload.encode("utf-8") if payload is not None else None,
                        connection.signing_keys, connection.id)

    def event_id(self, request: InboundRequest, connection: ConnectionContext) -> str:
        form = _form(request)
        payload = _payload(form)
        event_type = _event_type(form, payload)
        version = version_of(payload)
        revision = str(version) if version is not None else \
            hashlib.sha256(form["payload"].encode("utf-8")).hexdigest()[:16]
        if event_type == SALE:
            return f"{get_str(payload, 'id')}:{revision}"
        return f"{event_type}:{get_str(payload, 'id', required=False) or '-'}:{revision}"

    def parse(self, request: InboundRequest, connection: ConnectionContext) -> Parsed:
        if request.source == "reconcile":
            sale = load_json(request.body, parse_float=Decimal)
            if not isinstance(sale, dict):
                raise PayloadError("expected a sale object")
            return _api_sale(sale, connection)
        form = _form(request)
        payload = _payload(form)
        event_type = _event_type(form, payload)
        handler = HANDLERS.get(event_type)
        if handler is not None:
            return handler(payload, connection)
        return Parsed.skip(event_type, IGNORED.get(
            event_type, f"Lightspeed X-Series payload of type {event_type} is not a sale; not handled"))

    supports_reconcile = True
    # Not documented by Lightspeed; one page a second is gentle on any store.
    reconcile_requests_per_second = 2.0

    def reconcile_page(self, connection: ConnectionContext, window: ReconcileWindow,
                       cursor: str | None) -> ReconcilePage:
        return reconcile.list_page(connection, window, cursor)

    def resume_cursor(self, last_cursor: str | None) -> str | None:
        return last_cursor  # versions order every change: carry on after the last one read

    def enrich(self, transaction: Transaction, connection: ConnectionContext) -> Transaction:
        if transaction.metadata.get(CUSTOMER_LOOKUP):
            return _with_customer(transaction, connection)
        if not transaction.metadata.get(REFETCH):
            return transaction
        from connectors.lightspeed.api import LightspeedAPI

        try:
            api = LightspeedAPI(connection)
            sale = api.sale(transaction.source_id)
            if sale is None:
                raise SkipTransaction(f"Lightspeed X-Series has no completed sale {transaction.source_id} "
                                      "(the API answered 404): not awarded")
            reason = not_awarded_reason(sale)
            if reason:
                raise SkipTransaction(reason)
            customer_id = get_str(sale, "customer_id", required=False)
            customer = api.customer(customer_id) if customer_id else None
            result = sale_transaction(sale, customer, connection,
                                      connection.currency or api.retailer_currency())
        except PayloadError as error:
            raise SkipTransaction(f"cannot read the Lightspeed X-Series API's answer: {error.message}") from None
        if isinstance(result, str):
            raise SkipTransaction(result)
        return result

    def sign(self, body: bytes, url: str, signing_key: str,
             connection: ConnectionContext | None = None) -> dict[str, str]:
        headers = {"Content-Type": FORM}
        if connection is None or not _unsigned(connection):
            headers[signature.HEADER] = signature.header_value(signature.digest(signing_key, body, "hex"))
        return headers

    def fixture_body(self, fixture: bytes) -> bytes:
        return urlencode({"payload": fixture.decode("utf-8")}).encode("ascii")


def _with_customer(transaction: Transaction, connection: ConnectionContext) -> Transaction:
    """The customer a reconciled sale names by id (the walk-in one is nobody)."""
    from connectors.lightspeed.api import LightspeedAPI

    customer_id = transaction.customer.vendor_customer_id
    try:
        document = LightspeedAPI(connection).customer(customer_id)
        customer = customer_of(document, customer_id, connection.country)
    except PayloadError as error:
        raise SkipTransaction(f"cannot read the Lightspeed X-Series customer {customer_id}: {error.message}") from None
    metadata = {k: v for k, v in transaction.metadata.items() if k != CUSTOMER_LOOKUP}
    return replace(transaction, customer=customer, metadata=metadata)
