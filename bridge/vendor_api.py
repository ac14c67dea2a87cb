"""What a vendor API's answer means to a reconciliation run, in one place for
every connector: the connectors make the requests, this reads the answers.

- 401/403: the vendor refused the connection's token: VendorTokenRejected
  (the run marks the token rejected and asks nothing more of it).
- 429, 5xx, timeouts and connection errors: VendorAPIUnavailable, with the
  vendor's Retry-After (the run retries with backoff, then stops and resumes
  from its cursor next time).
- any other non-2xx: ReconcileUnavailable (retrying the same request cannot
  help: a wrong base URL, a malformed window).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from bridge.errors import PayloadError, ReconcileUnavailable, VendorAPIUnavailable, VendorTokenRejected
from bridge.outcome import parse_retry_after

TIMEOUT_SECONDS = 10.0
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http() -> httpx.Client:
    """One client per process for every vendor API: `httpx.get` builds a new
    TLS context each call (about 0.15 s of certificate loading here), and a
    client keeps connections to the vendor open between pages."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(timeout=TIMEOUT_SECONDS)
        return _client


def get_json(name: str, url: str, *, headers: dict[str, str], params: dict[str, Any] | None = None) -> Any:
    """GET a vendor API list and return its JSON.

    Numbers are read as Python floats on purpose: a sale is stored again as
    `json.dumps` of its object, and a float's shortest repr gives back the
    vendor's own literal (`9.52174`), which the connector then reads as a
    Decimal, exactly."""
    return read_json(name, get(name, url, headers=headers, params=params))


def get(name: str, url: str, *, headers: dict[str, str], params: dict[str, Any] | None = None) -> httpx.Response:
    """GET, with the answer checked (anything but a 2xx raises)."""
    try:
        response = http().get(url, params=params, headers=headers)
    except httpx.TimeoutException as error:
        raise VendorAPIUnavailable(f"{name} API did not answer in time ({type(error).__name__})") from None
    except httpx.HTTPError as error:
        raise VendorAPIUnavailable(f"{name} API unreachable ({type(error).__name__})") from None
    check_answer(name, response)
    return response


def read_json(name: str, response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        raise PayloadError(f"the {name} API's answer is not JSON", path=str(response.url.path)) from None


def check_answer(name: str, response: httpx.Response) -> None:
    raise_for_status(name, response.status_code, response.headers, response.url.path)


def raise_for_status(name: str, status: int, headers, path: str) -> None:
    """The one reading of a vendor API's status code (an SDK's errors come here too)."""
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise VendorTokenRejected(f"{name} refused the connection's API token ({status})", status_code=status)
    if status == 429 or status >= 500:
        retry_after = parse_retry_after((headers or {}).get("retry-after"))
        raise VendorAPIUnavailable(
            f"{name} API answered {status}" + (f"; it asks to wait {retry_after:g} s" if retry_after is not None else ""),
            retry_after=retry_after)
    raise ReconcileUnavailable(f"{name} API answered {status} for {path}: check api_base_url "
                               "and the connection's settings")
