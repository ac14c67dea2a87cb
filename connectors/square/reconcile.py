"""The payments webhooks missed, through the squareup SDK: `client.payments.list`
(GET /v2/payments) by update time, `updated_at_begin_time` to
`updated_at_end_time`, sorted by `UPDATED_AT`, paging by Square's `cursor`.

Why the Payments list and not the Events API (`client.events.search_events`):
it returns the payment object itself, the very `data.object.payment` a
`payment.updated` webhook carries, so the connector's own `_payment` reads it;
it is not limited to the last 28 days (a backfill reaches further); and by
update time it finds a payment that completed after it was created. Uncertain
(README, "Reconciliation"): whether Square filters on `updated_at_*` for
every account; the window is applied to each payment's `updated_at` here as
well, so a server that ignores them lists more, never less.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
from square.core.api_error import ApiError

from bridge.contract import ConnectionContext, ReconcilePage, ReconcileWindow, VendorSale
from bridge.errors import VendorAPIUnavailable
from bridge.untrusted import get_datetime
from bridge.vendor_api import raise_for_status
from connectors.square.customers import _REQUEST_OPTIONS, square_client

NAME = "Square"
PAGE_SIZE = 100
EVENT_PREFIX = "api:"


def list_page(connection: ConnectionContext, window: ReconcileWindow, cursor: str | None) -> ReconcilePage:
    try:
        pager = square_client(connection).payments.list(
            updated_at_begin_time=_rfc3339(window.since), updated_at_end_time=_rfc3339(window.until),
            sort_field="UPDATED_AT", sort_order="ASC", cursor=cursor, limit=PAGE_SIZE,
            request_options=_REQUEST_OPTIONS)
    except ApiError as error:
        raise_for_status(NAME, error.status_code or 0, error.headers, "/v2/payments")
        raise
    except httpx.TimeoutException as error:
        raise VendorAPIUnavailable(f"{NAME} API did not answer in time ({type(error).__name__})") from None
    except httpx.HTTPError as error:
        raise VendorAPIUnavailable(f"{NAME} API unreachable ({type(error).__name__})") from None
    sales = []
    for payment in pager.items or []:
        document = payment.model_dump(mode="json", by_alias=True, exclude_unset=True)
        if not window.holds(get_datetime(document, "updated_at")):
            continue
        revision = document.get("version") or document.get("updated_at")
        sales.append(VendorSale(event_id=f"{EVENT_PREFIX}{document['id']}:{revision}",
                                body=json.dumps(document).encode()))
    next_cursor = getattr(pager.response, "cursor", None)
    return ReconcilePage(sales, next_cursor or cursor, done=not next_cursor)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
