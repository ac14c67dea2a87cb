"""Square webhooks → canonical transactions.

Facts (with sources) in the project's vendor notes; the ones that shape this
file: https://developer.squareup.com/docs/webhooks/step3validate (signature over
notification URL + raw body), docs/payments-api/webhooks (payment.created is
often already COMPLETED; refunds go PENDING → COMPLETED), and the SDK's
`Payment` docstring (customer_id may be attached after creation).
"""

from __future__ import annotations

from typing import Callable

from square.utils.webhooks_helper import verify_signature

from bridge.contract import ConnectionContext, Connector, InboundRequest, Parsed, ReconcilePage, ReconcileWindow
from bridge.errors import NoSigningSecret, PayloadError, SignatureError, SignatureMalformed, SignatureMissing
from bridge.identity import normalize_email
from bridge.model import Customer, Kind, Location, Transaction
from bridge.money import normalize_currency
from bridge.untrusted import get_datetime, get_int, get_object, get_str, load_json
from connectors.square.signature import SIGNATURE_HEADER, diagnose, signature_for



def _payment(event: dict, connection: ConnectionContext) -> Parsed:
    event_type = event["type"]
    payment = get_object(event, "data.object.payment")
    status = get_str(payment, "status")
    if status != "COMPLETED":
        # APPROVED / PENDING may still complete (a later payment.updated says
        # so); CANCELED / FAILED never award.
        return Parsed.skip(event_type, f"Square payment is {status}, not COMPLETED")
    money_field = "total_money" if connection.flag("include_tips") else "amount_money"
    currency = normalize_currency(get_str(payment, f"{money_field}.currency"), path=f"{money_field}.currency")
    return Parsed(event_type=event_type, transactions=[Transaction(
        connection_id=connection.id,
        vendor="square",
        source_id=get_str(payment, "id"),
        kind=Kind.SALE,
        amount_minor=get_int(payment, f"{money_field}.amount"),
        currency=currency,
        occurred_at=get_datetime(payment, "created_at"),
        customer=Customer(
            email=normalize_email(get_str(payment, "buyer_email_address", required=False)),
            vendor_customer_id=get_str(payment, "customer_id", required=False),
        ),
        location=Location(id=get_str(payment, "location_id", required=False)),
        reference=get_str(payment, "receipt_number", required=False),
        # Webhook payloads carry an integer version (the SDK model omits it).
        source_version=get_int(payment, "version", required=False),
        receipt_total_minor=get_int(payment, "total_money.amount", required=False),
        metadata={
            "order_id": get_str(payment, "order_id", required=False),
            "receipt_url": get_str(payment, "receipt_url", required=False),
        },
    )])


def _refund(event: dict, connection: ConnectionContext) -> Parsed:
    event_type = event["type"]
    refund = get_object(event, "data.object.refund")
    status = get_str(refund, "status")
    if status != "COMPLETED":
        return Parsed.skip(event_type, f"Square refund is {status}, not COMPLETED")
    return Parsed(event_type=event_type, transactions=[Transaction(
        connection_id=connection.id,
        vendor="square",
        source_id=get_str(refund, "id"),
        kind=Kind.REFUND,
        amount_minor=get_int(refund, "amount_money.amount"),
        currency=normalize_currency(get_str(refund, "amount_money.currency"), path="amount_money.currency"),
        occurred_at=get_datetime(refund, "created_at"),
        # A refund names no customer; the core takes it from the refunded sale.
        refund_of=get_str(refund, "payment_id"),
        location=Location(id=get_str(refund, "location_id", required=False)),
        metadata={"reason": get_str(refund, "reason", required=False)},
    )])


HANDLERS: dict[str, Callable[[dict, ConnectionContext], Parsed]] = {
    "payment.created": _payment,
    "payment.updated": _payment,
    "refund.created": _refund,
    "refund.updated": _refund,
}

IGNORED = {
    "order.created": "Square order events are enrichment only; the payment awards",
    "order.updated": "Square order events are enrichment only; the payment awards",
    "order.fulfillment.updated": "Square order events are enrichment only; the payment awards",
    "customer.created": "customer events carry no sale",
    "customer.updated": "customer events carry no sale",
    "customer.deleted": "customer events carry no sale",
    "webhooks.test_notification": "Square test notification: the subscription works",
}


class SquareConnector(Connector):
    slug = "square"
    display_name = "Square"
    handled_event_types = tuple(HANDLERS)
    ignored_event_types = tuple(IGNORED)
    settings = {
        "include_tips": "true: award on total_money (tip included); default false, amount_money",
        "environment": "sandbox: Square's sandbox API for customer lookups and reconciliation (default production)",
    }

    signing_key_source = "copy the subscription's Signature key from Square Developer Console → Webhooks → Subscriptions"
    has_vendor_api = True

    def check_vendor_api(self, connection: ConnectionContext):
        from connectors.square.checks import check_vendor_api

        return check_vendor_api(connection)

    def verify(self, request: InboundRequest, connection: ConnectionContext) -> None:
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            raise SignatureMissing(f"no {SIGNATURE_HEADER} header: Square signs every notification, so this "
                                   "request did not come from a Square webhook subscription")
        if not connection.signing_keys:
            raise NoSigningSecret("the connection has no Square signature key")
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureMalformed("the body is not UTF-8, so Square did not sign it") from None
        for key in connection.signing_keys:
            if verify_signature(request_body=body, signature_header=signature,
                                signature_key=key, notification_url=request.url):
                return
        raise SignatureError(diagnose(request, signature, connection.signing_keys))

    def event_id(self, request: InboundRequest, connection: ConnectionContext) -> str:
        return get_str(load_json(request.body), "event_id")

    supports_reconcile = True
    # Square publishes no number; a few requests a second stays far below any.
    reconcile_requests_per_second = 5.0

    def reconcile_page(self, connection: ConnectionContext, window: ReconcileWindow,
                       cursor: str | None) -> ReconcilePage:
        from connectors.square.reconcile import list_page

        return list_page(connection, window, cursor)

    def parse(self, request: InboundRequest, connection: ConnectionContext) -> Parsed:
        event = load_json(request.body)
        if not isinstance(event, dict):
            raise PayloadError("expected a JSON object")
        if request.source == "reconcile":
            # A payment as the Payments list returns it: the object a
            # payment.updated webhook carries, so it is wrapped as one.
            event = {"type": "payment.updated", "data": {"type": "payment", "id": event.get("id"),
                                                         "object": {"payment": event}}}
        event_type = get_str(event, "type")
        handler = HANDLERS.get(event_type)
        if handler is not None:
            return handler(event, connection)
        return Parsed.skip(event_type, IGNORED.get(event_type, f"Square event type {event_type} is not handled"))

    def enrich(self, transaction: Transaction, connection: ConnectionContext) -> Transaction:
        # Imported here: the SDK's client is heavy and only workers need it.
        from connectors.square.customers import enrich_from_square

        return enrich_from_square(transaction, connection)

    def sign(self, body: bytes, url: str, signing_key: str,
             connection: ConnectionContext | None = None) -> dict[str, str]:
        return {"Content-Type": "application/json", SIGNATURE_HEADER: signature_for(url, body, signing_key)}
