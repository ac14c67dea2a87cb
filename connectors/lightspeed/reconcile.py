"""The sales webhooks missed: `GET /api/2.0/sales?after=<version>` (Spec 2.0
ListSales), paging by version, the only ordering Lightspeed X-Series gives.

Every change to a sale gives it a new, higher `version`, so listing "after
the last version read" finds every sale changed since, whatever its status.
The window is applied to each sale's `updated_at`; reading stops at the
first sale changed at or after the window's end, so the cursor never passes
a sale the run did not look at. Uncertain (README, "Reconciliation"): whether
`after` is exclusive; sales at or below the cursor are dropped, which reads
both ways.
"""

from __future__ import annotations

import json

from bridge.contract import ConnectionContext, ReconcilePage, ReconcileWindow, VendorSale
from bridge.errors import PayloadError, ReconcileUnavailable, SkipTransaction
from bridge.untrusted import get_str
from bridge.vendor_api import get_json
from connectors.lightspeed.api import base_url
from connectors.lightspeed.sales import timestamp, version_of

NAME = "Lightspeed X-Series"
PAGE_SIZE = 200
# A reconciled sale's event id: its own namespace beside the webhooks'
# `<sale id>:<version>`, so neither is ever taken for a re-post of the other.
EVENT_PREFIX = "api:"


def list_page(connection: ConnectionContext, window: ReconcileWindow, cursor: str | None) -> ReconcilePage:
    after = _version(cursor)
    try:
        base = base_url(connection)
    except SkipTransaction as missing:
        raise ReconcileUnavailable(missing.reason) from None
    body = get_json(NAME, f"{base}/api/2.0/sales",
                    params={"after": after, "page_size": PAGE_SIZE},
                    headers={"Authorization": f"Bearer {connection.vendor_token}", "Accept": "application/json"})
    listed = body.get("data") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        raise PayloadError("expected a list of sales", path="data")
    sales, position = [], after
    for sale in sorted((_versioned(item) for item in listed), key=lambda pair: pair[0]):
        version, document = sale
        if version <= after:
            continue  # `after` read as inclusive: already seen on the page before
        if _changed_at(document) >= window.until:
            return ReconcilePage(sales, str(position), done=True)
        position = version
        if window.holds(_changed_at(document)):
            sales.append(VendorSale(event_id=f"{EVENT_PREFIX}{get_str(document, 'id')}:{version}",
                                    body=json.dumps(document).encode()))
    return ReconcilePage(sales, str(position), done=position == after)


def _versioned(item: object) -> tuple[int, dict]:
    if not isinstance(item, dict):
        raise PayloadError("expected a sale object", path="data[]")
    version = version_of(item)
    if version is None:
        raise PayloadError("a listed sale has no version", path="data[].version")
    return version, item


def _changed_at(sale: dict):
    for path in ("updated_at", "sale_date", "created_at"):
        text = get_str(sale, path, required=False)
        if text:
            return timestamp(text, path)
    raise PayloadError("missing", path="updated_at")


def _version(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise PayloadError(f"not a Lightspeed X-Series version cursor: {cursor!r}")
    return int(cursor)
