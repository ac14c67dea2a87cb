"""Toast orders webhooks → canonical transactions.

Facts, each with its source, in docs/vendors/toast.md (the project's vendor
notes); the ones that shape this file: one secret per subscription
(DG:apiMessageSigning), the order is sent whole on every change
(DG:devOrdersWebhookRef), the event `guid` is the dedupe key
(CB:apiWebhookUsageChecklist), guest name and phone are omitted from the
webhook ("Omitted values"), and a 4xx other than 404/429 is never retried
(DG:apiRetrySupport), so everything readable is acknowledged.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Callable

from bridge.contract import ConnectionContext, Connector, InboundRequest, Parsed, ReconcilePage, ReconcileWindow
from bridge.errors import (ConfigError, EnrichmentUnavailable, NoSigningSecret, PayloadError, SignatureError,
                           SignatureMissing, SignatureNotAllowed, SkipTransaction)
from bridge.model import Kind, Transaction
from bridge.money import normalize_currency
from connectors.toast import api, reconcile
from connectors.toast.orders import CURRENCY_FROM_TOAST, OrderReader, customer_of, minor_units
from connectors.toast.payload import Node, load
from connectors.toast.signature import BODY, DEFAULT_READING, READINGS, matching_reading, signature_for

log = logging.getLogger("bridge.connectors.toast")
SIGNATURE_HEADER = "toast-signature"
RESTAURANT_HEADER = "toast-restaurant-external-id"


def _order(envelope: Node, connection: ConnectionContext, event_type: str) -> Parsed:
    reader = OrderReader(envelope, connection).read()
    if reader.transactions:
        return Parsed(event_type=event_type, transactions=reader.transactions)
    return Parsed.skip(event_type, "; ".join(reader.reasons))


# By eventCategory (DG:apiWebhooksReference). Orders arrive as eventType
# order_updated or the undocumented channel_order_updated: read alike.
HANDLERS: dict[str, Callable[[Node, ConnectionContext, str], Parsed]] = {
    "order_updated": _order,
}

IGNORED = {
    "menus": "Toast menu changes carry no sale",
    "stock": "Toast stock changes carry no sale",
    "partner": "Toast partner (connect/disconnect) events carry no sale",
    "partners": "Toast partner (connect/disconnect) events carry no sale",
    "guest_order_status": "Toast guest order status carries no payment",
    "restaurant_availability": "Toast restaurant availability carries no sale",
    "ordering_schedule": "Toast ordering schedules carry no sale",
    "packaging": "Toast packaging preferences carry no sale",
}


def served_restaurants(connection: ConnectionContext) -> set[str]:
    return {guid.strip() for guid in str(connection.setting("restaurants") or "").split(",") if guid.strip()}


def _pinned_reading(connection: ConnectionContext | None) -> str | None:
    return (connection.setting("signing") or None) if connection else None


def _body_restaurant(body: bytes) -> str | None:
    try:
        details = load(body).get("details")
    except (PayloadError, AttributeError):
        return None
    guid = details.get("restaurantGuid") if isinstance(details, dict) else None
    return guid if isinstance(guid, str) and guid else None


class ToastConnector(Connector):
    slug = "toast"
    display_name = "Toast"
    handled_event_types = tuple(HANDLERS)
    ignored_event_types = tuple(IGNORED)
    # Each subscription (orders, menus, stock, partners) signs with its own
    # secret, all current at once: a rotation adds a key, never retires one.
    signing_key_grace_seconds = None
    settings = {
        "restaurants": "comma-separated restaurant GUIDs served; default every restaurant the secret covers",
        "signing": "body+timestamp, body or body-hex: pin the signature reading once confirmed (default: any)",
        "api_base_url": f"Toast API host for --vendor-token look-ups (default {api.DEFAULT_BASE_URL})",
    }

    def check_connection(self, connection: ConnectionContext) -> None:
        if connection.vendor_token:
            api.credentials(connection.vendor_token)
        elif not connection.currency:
            # Toast orders carry no currency (it is the restaurant's
            # general.currencyCode), and Toast runs in USD, CAD, GBP, EUR, AUD.
            raise ConfigError("Toast orders carry no currency: pass --currency (e.g. USD), "
                              "or --vendor-token CLIENT_ID:CLIENT_SECRET to read it from Toast")
        reading = _pinned_reading(connection)
        if reading and reading not in READINGS:
            raise ConfigError(f"signing must be one of {', '.join(READINGS)}")
        host = str(connection.setting("api_base_url") or api.DEFAULT_BASE_URL)
        if not host.startswith(("https://", "http://")):
            raise ConfigError(f"api_base_url must be an http(s) URL: {host!r}")

    signing_key_source = "copy the webhook subscription's secret from Toast Web → Integrations → Webhooks"
    has_vendor_api = True

    def check_vendor_api(self, connection: ConnectionContext):
        from connectors.toast.checks import check_vendor_api

        return check_vendor_api(connection)

    def verify(self, request: InboundRequest, connection: ConnectionContext) -> None:
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            raise SignatureMissing("no Toast-Signature header")
        if not connection.signing_keys:
            raise NoSigningSecret("the connection has no Toast subscription secret")
        pinned = _pinned_reading(connection)
        found = matching_reading(request.body, signature, connection.signing_keys,
                                 (pinned,) if pinned else READINGS)
        if found is None:
            tried = ", ".join((pinned,) if pinned else READINGS)
            raise SignatureError(f"the signature does not match any of the connection's Toast secrets: it "
                                 f"matched none of the readings ({tried}); check the subscription's secret "
                                 "in Toast Web, or the body was changed on its way (indistinguishable here)")
        log.info("Toast signature on %s matched the %s reading (secret %d of %d)",
                 connection.id, found[0], found[1] + 1, len(connection.signing_keys))
        # The secret proves the subscription, not the restaurant: one secret
        # covers every restaurant of the integration.
        header, in_body = request.header(RESTAURANT_HEADER), _body_restaurant(request.body)
        if header and in_body and header != in_body:
            raise SignatureNotAllowed(f"Toast-Restaurant-External-ID {header} disagrees with the body's {in_body}")
        served, restaurant = served_restaurants(connection), header or in_body
        if served and restaurant and restaurant not in served:
            raise SignatureNotAllowed(f"restaurant {restaurant} is not one this connection serves")

    def event_id(self, request: InboundRequest, connection: ConnectionContext) -> str:
        return self._envelope(request).text("guid", required=True)

    def parse(self, request: InboundRequest, connection: ConnectionContext) -> Parsed:
        if request.source == "reconcile":
            return _order(self._api_order(request), connection, "order_updated")
        envelope = self._envelope(request)
        category = envelope.text("eventCategory", required=True)
        event_type = envelope.text("eventType") or category
        handler = HANDLERS.get(category)
        if handler is not None:
            return handler(envelope, connection, event_type)
        return Parsed.skip(event_type, IGNORED.get(category, f"Toast {category} events are not handled"))

    def enrich(self, transaction: Transaction, connection: ConnectionContext) -> Transaction:
        needs_currency = transaction.currency == CURRENCY_FROM_TOAST
        needs_guest = transaction.kind == Kind.SALE and not transaction.customer.has_identity
        if not connection.vendor_token or not (needs_currency or needs_guest):
            return transaction
        restaurant = transaction.location.id
        with api.ToastApi(connection) as toast:
            if needs_currency:
                transaction = self._in_restaurant_currency(toast, restaurant, transaction)
            if needs_guest:
                transaction = self._with_guest(toast, restaurant, transaction, connection)
        return transaction

    def sign(self, body: bytes, url: str, signing_key: str,
             connection: ConnectionContext | None = None) -> dict[str, str]:
        reading = _pinned_reading(connection) or DEFAULT_READING
        signature = signature_for(reading, body, signing_key) or signature_for(BODY, body, signing_key)
        headers = {"Content-Type": "application/json", "Toast-Signature": signature,
                   "Toast-Attempt-Number": "1"}
        try:
            document = load(body)
        except PayloadError:
            return headers
        if isinstance(document, dict):
            for header, field in (("Toast-Event-Category", "eventCategory"), ("Toast-Event-Type", "eventType")):
                if isinstance(document.get(field), str):
                    headers[header] = document[field]
        restaurant = _body_restaurant(body)
        if restaurant and not str(headers.get("Toast-Event-Category", "")).startswith("partner"):
            headers["Toast-Restaurant-External-ID"] = restaurant  # absent on partner events (DG:apiHttpHeaders)
        return headers

    supports_reconcile = True
    # DG:apiRateLimiting: ordersBulk takes 5 requests a second per location.
    reconcile_requests_per_second = 5.0

    def reconcile_page(self, connection: ConnectionContext, window: ReconcileWindow,
                       cursor: str | None) -> ReconcilePage:
        return reconcile.list_page(connection, window, cursor)

    @staticmethod
    def _api_order(request: InboundRequest) -> Node:
        """An order as ordersBulk lists it, wrapped as the webhook's envelope
        would carry it: the restaurant is the one it was listed for."""
        order = load(request.body)
        if not isinstance(order, dict):
            raise PayloadError("expected an order object")
        restaurant = request.header(RESTAURANT_HEADER)
        if not restaurant:
            raise PayloadError("a reconciled Toast order needs the restaurant it was listed for",
                               path="toast-restaurant-external-id")
        return Node({"eventCategory": "orders", "eventType": "order_updated",
                     "details": {"restaurantGuid": restaurant, "order": order}})

    @staticmethod
    def _envelope(request: InboundRequest) -> Node:
        document = load(request.body)
        if not isinstance(document, dict):
            raise PayloadError("expected a JSON object")
        return Node(document)

    @staticmethod
    def _in_restaurant_currency(toast: api.ToastApi, restaurant: str, transaction: Transaction) -> Transaction:
        found = toast.restaurant(restaurant)
        code = (found or {}).get("general", {}).get("currencyCode") if isinstance(found, dict) else None
        if not code:
            raise EnrichmentUnavailable(
                f"Toast's restaurants API gave no currency for {restaurant}; set the connection's --currency")
        currency = normalize_currency(code, path="general.currencyCode")
        amount = minor_units(Decimal(transaction.metadata["amount"]), currency)
        return replace(transaction, currency=currency, amount_minor=amount)

    @staticmethod
    def _with_guest(toast: api.ToastApi, restaurant: str, transaction: Transaction,
                    connection: ConnectionContext) -> Transaction:
        order = toast.order(restaurant, transaction.metadata["order_guid"])
        if order is None:
            return transaction
        checks = [c for c in Node(order).children("checks") if c.text("guid") == transaction.source_id]
        if not checks:
            return transaction
        check = checks[0]
        if check.flag("voided") or check.flag("deleted") or Node(order).flag("voided"):
            raise SkipTransaction(f"check {transaction.source_id} is voided or deleted in Toast's current order")
        guest = customer_of(check, connection.country)
        if guest.phone is None and not connection.country and (check.child("customer", required=False)
                                                               or Node({})).text("phone"):
            guest = customer_of(check, toast.restaurant_country(restaurant))
        return transaction.with_customer(transaction.customer.merged_with(guest))
