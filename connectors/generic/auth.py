"""Who may post to a generic connection: an API key, or a Standard Webhooks signature.

Facts in the project's vendor notes (generic.md §3, §6): Zapier, Make, n8n and
Pipedream can all set a header or Basic auth but none can sign without a code
step, so the API key is the default; Standard Webhooks is the signed mode, with
its ±5 minute tolerance and space-separated `v1,<base64>` signatures
(standard-webhooks `spec/standard-webhooks.md`, `libraries/python`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping

from bridge.contract import InboundRequest
from bridge.errors import (NoSigningSecret, SignatureError, SignatureMalformed, SignatureMissing,
                           SignatureNotAllowed, SignatureStale)

API_KEY = "api_key"
SIGNATURE = "signature"
AUTH_MODES = (API_KEY, SIGNATURE)
TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"
# Names a flow builder reaches for when a tool offers only "query auth" (n8n).
QUERY_SECRET_NAMES = frozenset({
    "api_key", "apikey", "api-key", "key", "token", "access_token", "auth", "authorization",
    "secret", "password", "signing_key", "webhook_secret", "x-api-key",
})
QUERY_REFUSAL = ("a secret was sent in the URL's query string, where proxies and logs keep it: "
                 "move it to a header (Authorization: Bearer <secret>) and rotate it")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def refuse_secrets_in_query(query: Mapping[str, str], keys: Iterable[str]) -> None:
    keys = [key.encode() for key in keys if key]
    for name, value in query.items():
        if not value:
            continue
        if name.strip().lower() in QUERY_SECRET_NAMES or any(
                hmac.compare_digest(value.encode(), key) for key in keys):
            raise SignatureNotAllowed(QUERY_REFUSAL)


def secret_bytes(secret: str) -> bytes:
    """The HMAC key: base64-decoded after `whsec_` (the spec's form, which the
    bridge generates); any other secret is used as its UTF-8 text, which is what
    text-key HMAC tools (n8n's Crypto node) compute with."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()).decode()


def standard_webhooks_headers(body: bytes, secret: str, message_id: str,
                              timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"webhook-id": message_id, "webhook-timestamp": stamp,
            "webhook-signature": "v1," + signature(secret, message_id, stamp, body)}


def verify(request: InboundRequest, keys: tuple[str, ...], mode: str) -> None:
    if mode not in AUTH_MODES:
        raise SignatureNotAllowed(f"this connection's auth setting is {mode!r}; the operator must set "
                                  "auth=api_key or auth=signature")
    if not keys:
        raise NoSigningSecret("this connection has no secret; rotate one in with rotate-key --signing-key")
    if mode == SIGNATURE:
        if not request.header("webhook-signature") and (request.header("authorization")
                                                        or request.header("x-api-key")):
            raise SignatureNotAllowed("this connection accepts Standard Webhooks signatures only (auth=signature), "
                                      "not an API key: send webhook-id, webhook-timestamp and webhook-signature")
        _verify_signature(request, keys)
        return
    presented = _presented_keys(request)
    if presented:
        if not any(hmac.compare_digest(given.encode(), key.encode()) for given in presented for key in keys):
            raise SignatureError("the API key does not match this connection's secret")
        return
    if request.header("webhook-signature"):
        _verify_signature(request, keys)
        return
    raise SignatureMissing("no API key: send the secret as Authorization: Bearer <secret>, as X-Api-Key, "
                           "or as the password of Basic auth")


def _presented_keys(request: InboundRequest) -> list[str]:
    presented = []
    header_key = (request.header("x-api-key") or "").strip()
    if header_key:
        presented.append(header_key)
    authorization = (request.header("authorization") or "").strip()
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            presented.append(credentials)
        elif scheme.lower() == "basic" and credentials:
            presented.extend(_basic_secrets(credentials))
        else:
            raise SignatureMalformed("the Authorization header must be `Bearer <secret>` or Basic auth "
                                     "with the secret as password")
    return presented


def _basic_secrets(credentials: str) -> list[str]:
    """The password; or the user name when the password is empty, as tools
    that model API keys as `key:` (Stripe-style) send it."""
    try:
        user, _, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        raise SignatureMalformed("the Basic auth credentials are not valid base64 of user:password") from None
    return [password] if password else [user]


def _verify_signature(request: InboundRequest, keys: tuple[str, ...]) -> None:
    message_id = (request.header("webhook-id") or "").strip()
    timestamp = (request.header("webhook-timestamp") or "").strip()
    signatures = (request.header("webhook-signature") or "").strip()
    missing = [name for name, value in (("webhook-id", message_id), ("webhook-timestamp", timestamp),
                                         ("webhook-signature", signatures)) if not value]
    if missing:
        raise SignatureMissing(f"no {', '.join(missing)} header: sign the request as Standard Webhooks describes")
    if not _TIMESTAMP.match(timestamp):
        raise SignatureMalformed("webhook-timestamp must be whole Unix seconds")
    age = time.time() - int(timestamp)
    if age > TOLERANCE_SECONDS:
        raise SignatureStale(f"the signature's webhook-timestamp is {int(age)} s old (tolerance "
                             f"{TOLERANCE_SECONDS} s: more than 5 minutes old is refused): "
                             "sign each request when it is sent, retries included")
    if age < -TOLERANCE_SECONDS:
        raise SignatureStale(f"the signature's webhook-timestamp is {int(-age)} s in the future (tolerance "
                             f"{TOLERANCE_SECONDS} s): check the sender's clock")
    offered = [value for version, _, value in (entry.partition(",") for entry in signatures.split())
               if version == "v1"]
    if not offered:
        raise SignatureMalformed("webhook-signature has no v1 signature (expected `v1,<base64>`)")
    expected = [signature(key, message_id, timestamp, request.body).encode() for key in keys]
    if not any(hmac.compare_digest(value.encode(), wanted) for value in offered for wanted in expected):
        raise SignatureError("the signature does not match this connection's secret")
