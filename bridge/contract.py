"""The connector contract: what a folder under connectors/ provides.

Connectors are pure. Raw bytes, headers and the connection's settings go in;
a verdict, an event id, canonical transactions or a skip come out. No Flask
request, no session, no Celery. The only outbound HTTP a connector makes is
its optional `enrich` hook, which the worker calls, and `reconcile_page`,
which the reconciliation run calls (bridge/reconcile.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Mapping, Sequence

from bridge.model import Transaction


@dataclass(frozen=True)
class InboundRequest:
    """A webhook request as stored: untrusted until `verify` passes."""

    body: bytes
    headers: Mapping[str, str]  # lower-cased names
    url: str  # the URL as published to the vendor (BRIDGE_PUBLIC_URL + path)
    content_type: str | None = None
    remote_addr: str | None = None
    # Only for refusing secrets sent in the URL; never stored or logged.
    query: Mapping[str, str] = field(default_factory=dict)
    # When the bridge received it: the same at ingest, in the worker and on
    # every replay (a sale sent without its own time is dated by this).
    received_at: datetime | None = None
    # How the bridge got it: "webhook", "reconcile" (the body is the vendor
    # API's JSON for one sale, not a webhook envelope) or "test".
    source: str = "webhook"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class ConnectionContext:
    """What a connector may know of a connection; secrets already unsealed."""

    id: str
    vendor: str
    signing_keys: tuple[str, ...] = ()
    vendor_token: str | None = None
    currency: str | None = None
    country: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def setting(self, name: str, default: Any = None) -> Any:
        return self.settings.get(name, default)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.settings.get(name, default)
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)


@dataclass(frozen=True)
class Parsed:
    """What one stored event amounts to: transactions, or a reason to skip."""

    event_type: str
    transactions: Sequence[Transaction] = ()
    skip_reason: str | None = None

    @classmethod
    def skip(cls, event_type: str, reason: str) -> "Parsed":
        return cls(event_type=event_type, skip_reason=reason)


@dataclass(frozen=True)
class ReconcileWindow:
    """Sales changed between these instants (aware UTC) are wanted."""

    since: datetime
    until: datetime

    def holds(self, moment: datetime) -> bool:
        return self.since <= moment < self.until


@dataclass(frozen=True)
class VendorSale:
    """One sale as the vendor's API lists it: its JSON bytes, stored as the
    event's body, and a dedupe key for that version of it."""

    event_id: str
    body: bytes
    # Stored with it, as a webhook's headers are (Toast: the restaurant the order is from).
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReconcilePage:
    """One page of the vendor's list. `cursor` resumes after it; `done`: the
    window is read to its end (the last cursor is kept for resume_cursor)."""

    sales: Sequence[VendorSale]
    cursor: str | None
    done: bool = False


class Connector:
    """Base for connectors; subclasses set the class attributes and override."""

    slug: ClassVar[str]
    display_name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    # Declared so meta-tests can check every type has a fixture and vice versa.
    handled_event_types: ClassVar[tuple[str, ...]] = ()
    ignored_event_types: ClassVar[tuple[str, ...]] = ()
    requires_signing_key: ClassVar[bool] = True
    # True where the bridge makes the secret (generic); the vendor issues it otherwise.
    generates_signing_key: ClassVar[bool] = False
    accepted_content_types: ClassVar[tuple[str, ...]] = ("application/json",)
    # Connector settings (name -> what it does), settable with --set.
    settings: ClassVar[dict[str, str]] = {}
    # After a rotation, how long an older signing key stays valid; None: for
    # ever (Toast signs each subscription with its own key, all current).
    signing_key_grace_seconds: ClassVar[float | None] = None
    # `POST /hooks/<id>?wait=N` may wait for the loyalty core's answer.
    supports_wait: ClassVar[bool] = False
    # Where a merchant finds the signing key (the go-live check's fix).
    signing_key_source: ClassVar[str | None] = None
    # True where a vendor API token can be checked (check_vendor_api).
    has_vendor_api: ClassVar[bool] = False
    # True where reconcile_page lists the vendor's sales from its API.
    supports_reconcile: ClassVar[bool] = False
    # A ceiling on the reconciliation's API requests per connection.
    reconcile_requests_per_second: ClassVar[float] = 5.0

    def verify(self, request: InboundRequest, connection: ConnectionContext) -> None:
        """Raise SignatureError with a specific reason unless the vendor signed this."""
        raise NotImplementedError

    def new_signing_key(self) -> str:
        """A secret the bridge generates (where generates_signing_key is set)."""
        return secrets.token_urlsafe(32)

    def expects_signature(self, connection: ConnectionContext) -> bool:
        """Whether this connection's requests carry a signature to verify."""
        return self.requires_signing_key or self.generates_signing_key

    def check_vendor_api(self, connection: ConnectionContext):
        """Prove the vendor token works with a read-only call; a VendorCheck
        (bridge.golive.check). Only where has_vendor_api is set."""
        raise NotImplementedError

    def check_connection(self, connection: ConnectionContext) -> None:
        """Refuse, with ConfigError, a connection that could never work (at creation)."""

    def acknowledge(self, request: InboundRequest, connection: ConnectionContext) -> dict[str, Any]:
        """Checks made before the event is stored, and fields added to the answer.

        Most vendors get a bare acknowledgement; a caller that can act on the
        answer (the generic endpoint) gets its validation errors here, as
        ValidationFailed (422), and the fields it wants echoed.
        """
        return {}

    def conflicts(self, first: InboundRequest, again: InboundRequest,
                  connection: ConnectionContext) -> list[str]:
        """Fields that differ between a stored event and a re-post with its id."""
        return []

    def event_id(self, request: InboundRequest, connection: ConnectionContext) -> str:
        """The vendor's id for this delivery (the dedupe key); PayloadError if absent."""
        raise NotImplementedError

    def parse(self, request: InboundRequest, connection: ConnectionContext) -> Parsed:
        raise NotImplementedError

    def enrich(self, transaction: Transaction, connection: ConnectionContext) -> Transaction:
        """Fill customer details from the vendor's API; default: nothing to add.

        May raise SkipTransaction (the vendor's API says it is not a sale to
        award) or EnrichmentUnavailable (try the event again later).
        """
        return transaction

    def reconcile_page(self, connection: ConnectionContext, window: ReconcileWindow,
                       cursor: str | None) -> ReconcilePage:
        """One page of the sales the vendor's API lists for the window, from
        `cursor` (None: the window's start). Each sale's body is what `parse`
        reads when given `InboundRequest(source="reconcile")`. Raise
        VendorTokenRejected (401/403) or VendorAPIUnavailable (429, 5xx,
        timeouts: the run retries it). Only where supports_reconcile is set."""
        raise NotImplementedError

    def resume_cursor(self, last_cursor: str | None) -> str | None:
        """Where the next scheduled run starts, given the cursor the last one
        ended with. Default: at its window's start (the window overlaps the
        last run). A vendor whose cursor is its own ordering of changes
        (Lightspeed X-Series `version`) carries it over."""
        return None

    def sign(self, body: bytes, url: str, signing_key: str,
             connection: ConnectionContext | None = None) -> dict[str, str]:
        """Headers the vendor would send with `body`: for tests, demos and support.

        `connection` (optional) lets a connector sign as that connection is set
        up (the generic endpoint's API-key or signature mode)."""
        raise NotImplementedError

    def fixture_body(self, fixture: bytes) -> bytes:
        """The request body the vendor would send for a fixture file.

        Fixtures hold the readable JSON document; a vendor that form-encodes it
        (Lightspeed X-Series: `payload=<json>`) wraps it here."""
        return fixture
