"""The orders webhooks missed: `GET /orders/v2/ordersBulk?startDate&endDate&pageSize&page`
per restaurant (docs/vendors/toast.md §1 "Missed events"; DG:apiOrdersGetDetailedInfoAboutMultipleOrders).

Orders are selected by `modifiedDate` (creation counts as a modification), so
a window catches every order changed in it whatever its business date, and
a window across the restaurant's midnight is two UTC instants. Toast allows
at most a month per call and 100 orders a page; windows are cut into slices
of `SLICE` and pages follow `page` from 1. Uncertain (README,
"Reconciliation"): whether the end is a `Link: rel="next"` header or only a
short page; both end the listing here.

The cursor is `<restaurant index>:<slice start, epoch seconds>:<page>`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx

from bridge.contract import ConnectionContext, ReconcilePage, ReconcileWindow, VendorSale
from bridge.errors import (
    EnrichmentUnavailable,
    PayloadError,
    ReconcileUnavailable,
    VendorAPIUnavailable,
    VendorTokenRejected,
)
from bridge.vendor_api import get, http, read_json
from connectors.toast import api

NAME = "Toast"
PAGE_SIZE = 100
SLICE = timedelta(days=7)
EVENT_PREFIX = "api:"


def restaurants_of(connection: ConnectionContext) -> list[str]:
    served = sorted({guid.strip() for guid in str(connection.setting("restaurants") or "").split(",")
                     if guid.strip()})
    if not served:
        raise ReconcileUnavailable(
            f"reconciling Toast needs the restaurants to list: "
            f"`bridge connections set {connection.id} restaurants=GUID[,GUID...]`")
    return served


def list_page(connection: ConnectionContext, window: ReconcileWindow, cursor: str | None) -> ReconcilePage:
    restaurants = restaurants_of(connection)
    index, slice_start, page = _position(cursor, window)
    slice_end = min(slice_start + SLICE, window.until)
    restaurant = restaurants[index]
    response = _orders(connection, restaurant, slice_start, slice_end, page)
    orders = read_json(NAME, response)
    if not isinstance(orders, list):
        raise PayloadError("expected a list of orders", path="ordersBulk")
    sales = [_sale(order, restaurant) for order in orders]
    if _more(response, len(orders)):
        return ReconcilePage(sales, _cursor(index, slice_start, page + 1))
    if slice_end < window.until:
        return ReconcilePage(sales, _cursor(index, slice_end, 1))
    if index + 1 < len(restaurants):
        return ReconcilePage(sales, _cursor(index + 1, window.since, 1))
    return ReconcilePage(sales, _cursor(index, slice_end, page), done=True)


def _orders(connection: ConnectionContext, restaurant: str, start: datetime, end: datetime,
            page: int) -> httpx.Response:
    client_id, secret = api.credentials(connection.vendor_token)
    host = api.base_url(connection)
    params = {"startDate": _toast_time(start), "endDate": _toast_time(end), "pageSize": PAGE_SIZE, "page": page}
    for renew in (False, True):  # a token expired early: one new one (DG:apiAuthTokenRefresh)
        token = _token(host, client_id, secret, renew)
        try:
            return get(NAME, f"{host}/orders/v2/ordersBulk", params=params, headers={
                "Authorization": f"Bearer {token}", "Toast-Restaurant-External-ID": restaurant})
        except VendorTokenRejected:
            if renew:
                raise
            api.SESSION.forget_token(host, client_id)
    raise AssertionError("unreachable")


def _token(host: str, client_id: str, secret: str, renew: bool) -> str:
    try:
        return api.SESSION.token(http(), host, client_id, secret, renew=renew)
    except EnrichmentUnavailable as error:
        if "refused the API client credentials" in str(error):
            raise VendorTokenRejected(str(error)) from None
        raise VendorAPIUnavailable(str(error)) from None


def _sale(order: object, restaurant: str) -> VendorSale:
    if not isinstance(order, dict) or not isinstance(order.get("guid"), str):
        raise PayloadError("expected an order with a guid", path="ordersBulk[]")
    revision = order.get("modifiedDate") or order.get("closedDate") or "-"
    return VendorSale(event_id=f"{EVENT_PREFIX}{order['guid']}:{revision}", body=json.dumps(order).encode(),
                      headers={"toast-restaurant-external-id": restaurant})


def _more(response: httpx.Response, count: int) -> bool:
    """A `Link: <…>; rel="next"` says so; without the header, a full page may have more."""
    links = response.headers.get("link")
    if links is not None:
        return 'rel="next"' in links
    return count >= PAGE_SIZE


def _toast_time(moment: datetime) -> str:
    """`yyyy-MM-dd'T'HH:mm:ss.SSS-0000`, the form Toast's examples use, in UTC."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000-0000")


def _cursor(index: int, slice_start: datetime, page: int) -> str:
    return f"{index}:{int(slice_start.timestamp())}:{page}"


def _position(cursor: str | None, window: ReconcileWindow) -> tuple[int, datetime, int]:
    if cursor is None:
        return 0, window.since, 1
    try:
        index, start, page = (int(part) for part in cursor.split(":"))
    except ValueError:
        raise PayloadError(f"not a Toast reconciliation cursor: {cursor!r}") from None
    return index, datetime.fromtimestamp(start, timezone.utc), page
