"""A fake of the retailer's Lightspeed X-Series API 2.0, behind respx (the
connector's httpx calls, really intercepted): `GET /sales?after=&page_size=`
paging by version as Spec 2.0 ListSales describes, `GET /sales/{id}` (completed
sales only), `GET /customers/{id}`. Every change to a sale gives it the next
version, as Lightspeed does."""

from __future__ import annotations

import copy
import uuid
from collections import deque

import httpx

API = "https://lightspeed-fake.test"
TOKEN = "lsxs_pt_test-token"
ALICE_ID = "0adaafb3-6583-11e5-fb60-c4a1d1a1a001"
WALKIN_ID = "0adaafb3-6583-11e5-fb60-c4a1d0e1aaaa"
CUSTOMERS = {
    ALICE_ID: {"id": ALICE_ID, "customer_code": "Alice-9SD2", "first_name": "Alice", "last_name": "Martin",
               "email": "alice@example.com", "mobile": None, "phone": None},
    WALKIN_ID: {"id": WALKIN_ID, "customer_code": "WALKIN", "first_name": None, "last_name": None,
                "email": None, "mobile": None, "phone": None},
}
COMPLETED = {"CLOSED", "ONACCOUNT_CLOSED", "LAYBY_CLOSED"}


class FakeLightspeed:
    """Behind respx (`respx_mock`) in this process, or, with `wsgi_app()` on
    a LiveServer, behind a real loopback port for other threads and processes
    (api_base_url = that server's URL)."""

    def __init__(self, respx_mock=None, inclusive_after: bool = False, base: str = API) -> None:
        self.sales: dict[str, dict] = {}
        self.version = 7_000_000
        self.inclusive_after = inclusive_after  # the other reading of `after`
        self.failures: deque[httpx.Response | Exception] = deque()  # answered first, in order
        self.list_calls: list[dict] = []
        if respx_mock is not None:
            self.list_route = respx_mock.get(f"{base}/api/2.0/sales").mock(side_effect=self._list)
            respx_mock.get(url__regex=rf"{base}/api/2.0/sales/(?P<sale_id>[^/?]+)$").mock(side_effect=self._sale)
            respx_mock.get(url__regex=rf"{base}/api/2.0/customers/(?P<customer_id>[^/?]+)$").mock(
                side_effect=self._customer)

    def wsgi_app(self):
        """The same answers as a WSGI app."""
        from werkzeug.wrappers import Request, Response

        def app(environ, start_response):
            incoming = Request(environ)
            request = httpx.Request(incoming.method, incoming.url, headers=dict(incoming.headers))
            path = incoming.path
            if path == "/api/2.0/sales":
                answer = self._list(request)
            elif path.startswith("/api/2.0/sales/"):
                answer = self._sale(request, path.rsplit("/", 1)[1])
            elif path.startswith("/api/2.0/customers/"):
                answer = self._customer(request, path.rsplit("/", 1)[1])
            else:
                answer = httpx.Response(404)
            return Response(answer.content, status=answer.status_code,
                            content_type="application/json")(environ, start_response)
        return app

    def add_sale(self, *, status: str = "CLOSED", customer_id: str | None = ALICE_ID,
                 total_price: float = 20, total_tax: float = 3, at: str = "2026-12-01T10:00:00+00:00",
                 sale_id: str | None = None) -> dict:
        """A sale made (or changed) at `at`, with the next version."""
        self.version += 1
        sale = self.sales.get(sale_id) if sale_id else None
        sale = copy.deepcopy(sale) if sale else {
            "id": sale_id or str(uuid.uuid4()), "outlet_id": "b1e04bd8-f019-11e3-a0f5-b8ca3a64f8f4",
            "register_id": "b1e198a9-f019-11e3-a0f5-b8ca3a64f8f4", "invoice_number": str(self.version)[-5:],
            "receipt_number": str(self.version)[-5:], "short_code": "xamfvy", "return_for": None,
            "sale_date": at, "created_at": at, "line_items": [], "payments": [], "total_loyalty": 0}
        sale.update({"status": status, "customer_id": customer_id, "total_price": total_price,
                     "total_tax": total_tax, "updated_at": at, "version": self.version})
        self.sales[sale["id"]] = sale
        return copy.deepcopy(sale)

    def _list(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": "unauthorized"})
        if self.failures:
            failure = self.failures.popleft()
            if isinstance(failure, Exception):
                raise failure
            return failure
        after = int(request.url.params.get("after", "0"))
        page_size = int(request.url.params.get("page_size", "100"))
        self.list_calls.append({"after": after, "page_size": page_size})
        listed = sorted((s for s in self.sales.values()
                         if s["version"] > after or (self.inclusive_after and s["version"] == after)),
                        key=lambda s: s["version"])[:page_size]
        body = {"data": copy.deepcopy(listed)}
        if listed:
            body["version"] = {"min": listed[0]["version"], "max": listed[-1]["version"]}
        return httpx.Response(200, json=body)

    def _sale(self, request: httpx.Request, sale_id: str) -> httpx.Response:
        sale = self.sales.get(sale_id)
        if sale is None or sale["status"] not in COMPLETED:
            return httpx.Response(404, json={"error": "Not Found"})
        return httpx.Response(200, json={"data": sale})

    def _customer(self, request: httpx.Request, customer_id: str) -> httpx.Response:
        customer = CUSTOMERS.get(customer_id)
        return httpx.Response(200, json={"data": customer}) if customer else httpx.Response(404)
