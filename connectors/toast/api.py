"""Toast's Orders and Restaurants APIs, with one machine-client token per client.

Facts (docs/vendors/toast.md §6): the token comes from
`POST /authentication/v1/authentication/login` (`userAccessType:
TOAST_MACHINE_CLIENT`), lasts about a day, and Toast asks for at most two
token requests an hour (DG:apiAuthenticationRateLimit), so one token is
cached per client for every restaurant and every worker thread. Every call
names one location in `Toast-Restaurant-External-ID`. Rate limits are per
restaurant (20/s, 10,000 per 15 min); a 429's Retry-After is honoured here,
before Toast is asked again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

import httpx
import phonenumbers

from bridge.contract import ConnectionContext
from bridge.errors import ConfigError, EnrichmentUnavailable, PayloadError
from connectors.toast.payload import load

DEFAULT_BASE_URL = "https://ws-api.toasttab.com"
LOGIN_PATH = "/authentication/v1/authentication/login"
TIMEOUT_SECONDS = 10.0
TOKEN_REQUESTS_PER_HOUR = 2
# "The same token is returned until its last minute": ask again only then.
RENEW_BEFORE_EXPIRY_SECONDS = 60.0
DEFAULT_RETRY_AFTER_SECONDS = 60.0


def credentials(vendor_token: str | None) -> tuple[str, str]:
    """`CLIENT_ID:CLIENT_SECRET`, as --vendor-token carries them."""
    client_id, _, secret = (vendor_token or "").partition(":")
    if not client_id.strip() or not secret.strip():
        raise ConfigError("Toast --vendor-token must be CLIENT_ID:CLIENT_SECRET "
                          "(the API client's credentials from the Toast developer portal)")
    return client_id.strip(), secret.strip()


def base_url(connection: ConnectionContext) -> str:
    return str(connection.setting("api_base_url") or DEFAULT_BASE_URL).rstrip("/")


@dataclass
class _ClientState:
    token: str | None = None
    expires_at: float = 0.0
    token_requests: list[float] = field(default_factory=list)


class ToastSession:
    """Shared across connections and threads; keyed by (API host, client id)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], _ClientState] = {}
        self._not_before: dict[tuple[str, str], float] = {}  # (host, restaurant) -> after a 429
        self.restaurants: dict[tuple[str, str], dict] = {}

    def reset(self) -> None:
        with self._lock:
            self._clients.clear()
            self._not_before.clear()
            self.restaurants.clear()

    def token(self, http: httpx.Client, host: str, client_id: str, secret: str, renew: bool = False) -> str:
        with self._lock:
            state = self._clients.setdefault((host, client_id), _ClientState())
            now = self.clock()
            if state.token and not renew and now < state.expires_at - RENEW_BEFORE_EXPIRY_SECONDS:
                return state.token
            state.token_requests = [t for t in state.token_requests if now - t < 3600]
            if len(state.token_requests) >= TOKEN_REQUESTS_PER_HOUR:
                raise EnrichmentUnavailable(
                    f"Toast allows {TOKEN_REQUESTS_PER_HOUR} token requests an hour; both are spent")
            state.token_requests.append(now)
            response = _send(http, "POST", host + LOGIN_PATH, json={
                "clientId": client_id, "clientSecret": secret, "userAccessType": "TOAST_MACHINE_CLIENT"})
            if response.status_code in (400, 401, 403):
                raise EnrichmentUnavailable(
                    f"Toast refused the API client credentials ({response.status_code}); "
                    "check --vendor-token")
            body = _json(response, "token")
            token = (body.get("token") or {}) if isinstance(body, dict) else {}
            if not isinstance(token.get("accessToken"), str):
                raise EnrichmentUnavailable("Toast's token answer has no token.accessToken")
            state.token = token["accessToken"]
            expires_in = token.get("expiresIn")
            known = isinstance(expires_in, (int, Decimal)) and not isinstance(expires_in, bool)
            state.expires_at = now + (float(expires_in) if known else 3600.0)
            return state.token

    def forget_token(self, host: str, client_id: str) -> None:
        with self._lock:
            state = self._clients.get((host, client_id))
            if state:
                state.token = None

    def wait_until(self, host: str, restaurant: str) -> float:
        with self._lock:
            return self._not_before.get((host, restaurant), 0.0)

    def back_off(self, host: str, restaurant: str, seconds: float) -> None:
        with self._lock:
            self._not_before[(host, restaurant)] = self.clock() + seconds


SESSION = ToastSession()


def _send(http: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response:
    try:
        response = http.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
    except httpx.HTTPError as error:
        raise EnrichmentUnavailable(f"Toast API unreachable: {type(error).__name__}") from None
    if response.status_code >= 500:
        raise EnrichmentUnavailable(f"Toast API answered {response.status_code}")
    return response


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return load(response.content)
    except PayloadError:
        raise EnrichmentUnavailable(f"Toast's {what} answer is not JSON") from None


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("retry-after", "")), 1.0)
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS


class ToastApi:
    def __init__(self, connection: ConnectionContext, http: httpx.Client | None = None,
                 session: ToastSession = SESSION) -> None:
        self.client_id, self.secret = credentials(connection.vendor_token)
        self.host = base_url(connection)
        self.session = session
        self._owns_http = http is None
        self.http = http or httpx.Client(follow_redirects=False)

    def __enter__(self) -> "ToastApi":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._owns_http:
            self.http.close()

    def order(self, restaurant: str, order_guid: str) -> dict | None:
        """The order as GET /orders/v2/orders/{guid} has it; None if Toast has no such order."""
        return self._get(f"/orders/v2/orders/{order_guid}", restaurant)

    def restaurant(self, restaurant: str) -> dict | None:
        """GET /restaurants/v1/restaurants/{guid}, once per restaurant per process."""
        key = (self.host, restaurant)
        if key not in self.session.restaurants:
            found = self._get(f"/restaurants/v1/restaurants/{restaurant}", restaurant)
            if found is None:
                return None
            self.session.restaurants[key] = found
        return self.session.restaurants[key]

    def restaurant_country(self, restaurant: str) -> str | None:
        """The restaurant's region for phones without a country code; its format is undocumented."""
        location = (self.restaurant(restaurant) or {}).get("location")
        if not isinstance(location, dict):
            return None
        country, calling_code = location.get("country"), location.get("phoneCountryCode")
        if isinstance(country, str) and country.strip().upper() in phonenumbers.SUPPORTED_REGIONS:
            return country.strip().upper()
        if isinstance(calling_code, str) and calling_code.strip().lstrip("+").isdigit():
            region = phonenumbers.region_code_for_country_code(int(calling_code.strip().lstrip("+")))
            return None if region == "ZZ" else region
        return None

    def _get(self, path: str, restaurant: str) -> dict | None:
        wait = self.session.wait_until(self.host, restaurant) - self.session.clock()
        if wait > 0:
            raise EnrichmentUnavailable(f"Toast asked us to wait (429); {wait:.0f} s left")
        response = self._call(path, restaurant, renew=False)
        if response.status_code == 401:  # expired or revoked early: one new token
            response = self._call(path, restaurant, renew=True)
        if response.status_code == 429:
            seconds = _retry_after(response)
            self.session.back_off(self.host, restaurant, seconds)
            raise EnrichmentUnavailable(f"Toast API rate limit (429); Retry-After {seconds:.0f} s")
        if response.status_code in (400, 404):
            return None
        if response.status_code != 200:
            raise EnrichmentUnavailable(f"Toast API answered {response.status_code} for {path.split('/')[1]}")
        body = _json(response, path.split("/")[1])
        return body if isinstance(body, dict) else None

    def _call(self, path: str, restaurant: str, renew: bool) -> httpx.Response:
        token = self.session.token(self.http, self.host, self.client_id, self.secret, renew=renew)
        return _send(self.http, "GET", self.host + path, headers={
            "Authorization": f"Bearer {token}", "Toast-Restaurant-External-ID": restaurant})
