"""Why a Square signature failed, in one sentence a merchant can act on.

Square signs the notification URL as well as the body
(https://developer.squareup.com/docs/webhooks/step3validate), so a merchant
who registered `https://pos.example.com/hooks/ID` while the bridge believes
it is `http://127.0.0.1:8000` (BRIDGE_PUBLIC_URL unset behind a proxy), or
who added a trailing slash, gets nothing but 401s. Before giving up we sign
the body for the few URLs the merchant most likely registered: the other
scheme, with or without a trailing slash, the host the request came to
(`Host`, `X-Forwarded-Host`, `X-Forwarded-Proto`). A match names that URL;
the request is still refused: a match on another URL is a diagnosis, never
a pass.

A wrong key and a body changed on the way (a proxy re-encoding JSON) cannot
be told apart from outside: both are "matches no URL", and the reason says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Iterable
from urllib.parse import urlsplit

from bridge.contract import InboundRequest

SIGNATURE_HEADER = "x-square-hmacsha256-signature"
SUBSCRIPTIONS = "Square Developer Console → Webhooks → Subscriptions"
# A host as a header may carry it; anything else (markup, spaces, paths) is not
# a URL Square could have signed for, and must not reach a stored reason.
# No nested quantifiers: the header is the sender's to choose.
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")

NO_MATCH = ("the signature does not match the signing key, for the URL the bridge expects or any other likely "
            "one: either the key is not this subscription's Signature key (" + SUBSCRIPTIONS + " → the "
            "subscription → Signature key), or the body was changed on its way (e.g. a proxy that re-encodes "
            "JSON); the two look the same from here")


def signature_for(url: str, body: bytes, key: str) -> str:
    digest = hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def matches(signature: str, url: str, body: bytes, keys: Iterable[str]) -> bool:
    sent = signature.strip().encode()
    return any(hmac.compare_digest(signature_for(url, body, key).encode(), sent) for key in keys)


def _first(value: str | None) -> str | None:
    """The first hop of a comma-separated forwarded header."""
    return value.split(",", 1)[0].strip() if value else None


def likely_urls(request: InboundRequest) -> list[str]:
    """URLs the merchant may have registered instead of `request.url`, most likely first."""
    expected = urlsplit(request.url)
    hosts = [host for host in (_first(request.header("x-forwarded-host")), _first(request.header("host")),
                               expected.netloc) if host and _HOST.match(host)]
    forwarded = (_first(request.header("x-forwarded-proto")) or "").lower()
    schemes = [scheme for scheme in (forwarded, "https", "http") if scheme in ("http", "https")]
    bare = expected.path.rstrip("/")
    found = []
    for host in dict.fromkeys(hosts):
        for scheme in dict.fromkeys(schemes):
            for path in (bare, bare + "/"):
                url = f"{scheme}://{host}{path}"
                if url != request.url and url not in found:
                    found.append(url)
    return found


def diagnose(request: InboundRequest, signature: str, keys: tuple[str, ...]) -> str:
    """The reason for a signature that does not match `request.url`."""
    for url in likely_urls(request):
        if matches(signature, url, request.body, keys):
            return wrong_url_reason(url, request.url)
    return NO_MATCH


def wrong_url_reason(signed_for: str, expected: str) -> str:
    said = f"Square signed this request for `{signed_for}`; the bridge expected `{expected}`"
    signed, wanted = urlsplit(signed_for), urlsplit(expected)
    fixes = []
    if (signed.scheme, signed.netloc) != (wanted.scheme, wanted.netloc):
        # BRIDGE_PUBLIC_URL is everything before /hooks/ID (a proxy may add a path prefix).
        prefix = wanted.path[:wanted.path.rfind("/hooks/")] if "/hooks/" in wanted.path else ""
        fixes.append(f"set BRIDGE_PUBLIC_URL to `{signed.scheme}://{signed.netloc}{prefix}`")
    if signed.path == wanted.path.rstrip("/") + "/" and not wanted.path.endswith("/"):
        fixes.append(f"remove the trailing slash from the notification URL in {SUBSCRIPTIONS}")
    elif wanted.path.endswith("/") and signed.path == wanted.path.rstrip("/"):
        fixes.append("set BRIDGE_PUBLIC_URL without a trailing slash")
    return f"{said}: {' and '.join(fixes)}"
