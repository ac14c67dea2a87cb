"""The retailer's Lightspeed X-Series API 2.0: the sale, its customer, the currency.

Spec 2.0 (`dansleboby/lightspeed-xseries-sdk` `specs/API 2.0 - v1.0.json`):
`https://{domain_prefix}.retail.lightspeed.app/api/2.0`, `Authorization:
Bearer <token>` (OAuth or personal token, AUTH), answers wrapped in `data`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import httpx

from bridge import vendor_api
from bridge.contract import ConnectionContext
from bridge.errors import EnrichmentUnavailable, PayloadError, SkipTransaction
from bridge.money import normalize_currency
from bridge.untrusted import get_object, get_str

TIMEOUT_SECONDS = 10.0
# Lightspeed ids are UUIDs; an unsigned webhook's id must not steer the path.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The webhook carries no currency; the retailer's changes next to never.
_currencies: dict[tuple[str, str], str] = {}


def base_url(connection: ConnectionContext) -> str:
    configured = connection.setting("api_base_url")
    if configured:
        return str(configured).rstrip("/")
    prefix = connection.setting("domain_prefix")
    if not prefix:
        raise SkipTransaction("the connection has no domain_prefix setting, so the Lightspeed X-Series "
                              "API cannot be reached; set it and replay")
    return f"https://{prefix}.retail.lightspeed.app"


class LightspeedAPI:
    def __init__(self, connection: ConnectionContext) -> None:
        self.connection = connection
        self.base = base_url(connection)

    def sale(self, sale_id: str) -> dict | None:
        """None when Lightspeed has no such completed sale (GetSaleByID serves only those)."""
        return self._data(f"/api/2.0/sales/{_checked_id(sale_id, 'id')}")

    def customer(self, customer_id: str) -> dict | None:
        return self._data(f"/api/2.0/customers/{_checked_id(customer_id, 'customer_id')}")

    def retailer_currency(self) -> str:
        key = (self.connection.id, self.base)
        if key not in _currencies:
            retailer = self._data("/api/2.0/retailer")
            if retailer is None:
                raise SkipTransaction(f"{self.base} has no /api/2.0/retailer: is domain_prefix right?")
            _currencies[key] = normalize_currency(get_str(retailer, "currency.code"), path="currency.code")
        return _currencies[key]

    def _data(self, path: str) -> dict | None:
        try:
            response = vendor_api.http().get(self.base + path, timeout=TIMEOUT_SECONDS, headers={
                "Authorization": f"Bearer {self.connection.vendor_token}", "Accept": "application/json"})
        except httpx.HTTPError as error:
            raise EnrichmentUnavailable(f"Lightspeed X-Series API unreachable: {type(error).__name__}") from None
        status = response.status_code
        if status == 404:
            return None
        if status == 429:
            retry_after = _seconds(response.headers.get("retry-after"))
            error = EnrichmentUnavailable(
                "Lightspeed X-Series API rate limit (429)"
                + (f"; it asks to wait {retry_after:g} s" if retry_after is not None else ""))
            # Read by the core once it honours a vendor's Retry-After (see README).
            error.retry_after = retry_after
            raise error
        if status >= 500:
            raise EnrichmentUnavailable(f"Lightspeed X-Series API answered {status}")
        if status in (401, 403):
            raise SkipTransaction(f"Lightspeed X-Series refused the connection's token ({status}); "
                                  "rotate it (bridge connections rotate-key ID --vendor-token) and replay")
        if not 200 <= status < 300:
            raise SkipTransaction(f"Lightspeed X-Series API answered {status} for {path}")
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except (ValueError, RecursionError):
            raise PayloadError("the API answer is not JSON", path=path) from None
        return get_object(body, "data")


def _checked_id(value: str, path: str) -> str:
    if not _ID.fullmatch(value):
        raise PayloadError(f"not a Lightspeed id: {value!r}", path=path)
    return value


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: our own schedule is close enough
