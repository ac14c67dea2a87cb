"""Posting to a generic connection the way Zapier, Make, n8n or a till would."""

from __future__ import annotations

import json
from typing import Any

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # Standard Webhooks' own test secret
SALE = {"reference": "R-1001", "amount": "19.99", "currency": "AUD", "email": "alice@example.com"}


def connect(harness, secret: str = SECRET, **kwargs):
    kwargs.setdefault("currency", "AUD")
    kwargs.setdefault("country", "AU")
    return harness.add_connection(vendor="generic", signing_keys=(secret,), **kwargs)


def encode(body: dict[str, Any] | bytes | str) -> bytes:
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def post(harness, connection, body: dict[str, Any] | bytes | str = SALE, content_type="application/json",
         secret: str | None = SECRET, headers: dict[str, str] | None = None, query: str = ""):
    sent = {"Content-Type": content_type}
    if secret is not None:
        sent["Authorization"] = f"Bearer {secret}"
    sent.update(headers or {})
    return harness.client.post(f"/hooks/{connection.id}{query}", data=encode(body),
                               headers={k: v for k, v in sent.items() if v is not None})
