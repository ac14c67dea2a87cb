"""The generic endpoint: Zapier, Make, n8n, Pipedream and custom tills POST one
sale per request, in the flat contract of README.md (schema.json).

Facts and the recommended contract: the project's vendor notes, generic.md.
The answers are built for a Zap step: 202/200 with what was understood, 422
naming every fix, 200 `duplicate: true` on a replay (409 would count against
Zapier's auto-off, and a post-timeout replay is exactly this case, §6).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from bridge.contract import ConnectionContext, Connector, InboundRequest, Parsed
from bridge.errors import ConfigError, PayloadError, ValidationFailed
from bridge.model import Location, Transaction
from connectors.generic import auth
from connectors.generic.body import CONTENT_TYPES
from connectors.generic.schema import Sale, read_sale

MAX_EVENT_ID = 255


class GenericConnector(Connector):
    slug = "generic"
    display_name = "Generic endpoint"
    handled_event_types = ("sale", "refund")
    ignored_event_types = ("test",)
    generates_signing_key = True
    # A day: long enough to update every Zap, scenario and till after
    # `rotate-key --signing-key`, short enough that a leaked secret dies soon.
    signing_key_grace_seconds = 24 * 3600
    supports_wait = True
    accepted_content_types = CONTENT_TYPES
    settings = {
        "auth": "api_key (default): Bearer, X-Api-Key or Basic with the secret; "
                "signature: Standard Webhooks signatures only",
        "timezone": "IANA zone (e.g. Australia/Sydney) for occurred_at sent without an offset; default UTC",
    }

    signing_key_source = "make a new secret and paste it into the Zap, scenario or till"

    def new_signing_key(self) -> str:
        return auth.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()

    def check_connection(self, connection: ConnectionContext) -> None:
        mode = connection.setting("auth", auth.API_KEY)
        if mode not in auth.AUTH_MODES:
            raise ConfigError(f"auth must be {' or '.join(auth.AUTH_MODES)}, not {mode!r}")
        # `timezone` is a core setting, checked by bridge.connections.

    def verify(self, request: InboundRequest, connection: ConnectionContext) -> None:
        auth.refuse_secrets_in_query(request.query, connection.signing_keys)
        auth.verify(request, connection.signing_keys, str(connection.setting("auth", auth.API_KEY)))

    def acknowledge(self, request: InboundRequest, connection: ConnectionContext) -> dict[str, Any]:
        sale = read_sale(request, connection)
        answer: dict[str, Any] = {
            "reference": sale.reference, "kind": sale.kind.value, "amount_minor": sale.amount_minor,
            "currency": sale.currency, "occurred_at": sale.occurred_at.isoformat().replace("+00:00", "Z"),
            "test": sale.test, "ignored_fields": list(sale.ignored_fields),
        }
        return answer

    def event_id(self, request: InboundRequest, connection: ConnectionContext) -> str:
        sale = _readable(request, connection)
        given = _idempotency_key(request) or (request.header("webhook-id") or "").strip() or sale.reference
        if len(given) > MAX_EVENT_ID:
            given = "sha256:" + hashlib.sha256(given.encode()).hexdigest()
        if sale.test:
            # A test must never shadow the real sale that later uses its
            # reference, nor conflict with an edited re-test.
            digest = hashlib.sha256(given.encode() + b"\0" + request.body).hexdigest()
            return f"test:{digest[:32]}"
        return given

    def conflicts(self, first: InboundRequest, again: InboundRequest,
                  connection: ConnectionContext) -> list[str]:
        try:
            before = read_sale(first, connection).fingerprint()
        except ValidationFailed:
            return []  # accepted under older rules or settings: nothing to compare with
        after = read_sale(again, connection).fingerprint()
        return [name for name in before if before[name] != after[name]]

    def parse(self, request: InboundRequest, connection: ConnectionContext) -> Parsed:
        sale = _readable(request, connection)
        if sale.test:
            return Parsed.skip("test", "test request (test: true): validated and answered, nothing awarded")
        return Parsed(event_type=sale.kind.value, transactions=[_transaction(sale, connection)])

    def sign(self, body: bytes, url: str, signing_key: str,
             connection: ConnectionContext | None = None) -> dict[str, str]:
        mode = connection.setting("auth", auth.API_KEY) if connection else auth.API_KEY
        headers = {"Content-Type": "application/json"}
        if mode == auth.SIGNATURE:
            # Derived from the body, so a retry of the same sale carries the same id.
            message_id = "msg_" + hashlib.sha256(body).hexdigest()[:24]
            return {**headers, **auth.standard_webhooks_headers(body, signing_key, message_id)}
        return {**headers, "Authorization": f"Bearer {signing_key}"}


def _readable(request: InboundRequest, connection: ConnectionContext) -> Sale:
    """The worker sees ValidationFailed as what it is there: an unreadable payload."""
    try:
        return read_sale(request, connection)
    except ValidationFailed as invalid:
        raise PayloadError(invalid.message) from None


def _idempotency_key(request: InboundRequest) -> str | None:
    """`Idempotency-Key`, quoted (IETF draft: a structured string) or bare (Stripe)."""
    raw = (request.header("idempotency-key") or "").strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1].strip()
    return raw or None


def _transaction(sale: Sale, connection: ConnectionContext) -> Transaction:
    return Transaction(
        connection_id=connection.id, vendor="generic", source_id=sale.reference, kind=sale.kind,
        amount_minor=sale.amount_minor, currency=sale.currency, occurred_at=sale.occurred_at,
        customer=sale.customer, location=Location(id=sale.location), reference=sale.reference,
        refund_of=sale.refund_of, metadata=dict(sale.metadata),
    )
