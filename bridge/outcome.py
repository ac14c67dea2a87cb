"""What one delivery attempt amounts to, decided in one place.

2xx delivered; 401/403 the connection's key is wrong: pause, keep everything;
404 the core does not know the customer: unmatched, replayable once they sign
up; other 4xx failed with the core's message; 408/409/425/429/5xx, timeouts and
connection errors retry.
"""

from __future__ import annotations

import email.utils
import enum
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from bridge.clients.base import TargetClient
from bridge.egress import PrivateAddressRefused

RETRYABLE_STATUSES = {408, 409, 425, 429}


class Verdict(str, enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PAUSED = "paused"
    UNMATCHED = "unmatched"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str
    retry_after: float | None = None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def classify_response(client: TargetClient, status: int, body: Any, headers: httpx.Headers) -> Outcome:
    if 200 <= status < 300:
        if isinstance(body, dict) and body.get("success") is False:
            return Outcome(Verdict.FAILED, client.describe_error(status, body))
        return Outcome(Verdict.DELIVERED, f"{client.display_name} answered {status}")
    described = client.describe_error(status, body)
    if status in (401, 403):
        return Outcome(Verdict.PAUSED, f"connection paused: {client.display_name} rejected the API key "
                                       f"({status}); rotate it with `bridge connections rotate-key`")
    if status == 404:
        return Outcome(Verdict.UNMATCHED, described)
    if status in RETRYABLE_STATUSES or status >= 500:
        return Outcome(Verdict.RETRY, described, parse_retry_after(headers.get("retry-after")))
    return Outcome(Verdict.FAILED, described)


def classify_exception(client: TargetClient, error: Exception) -> Outcome:
    if isinstance(error, PrivateAddressRefused):  # the host re-resolved to a private address (DNS rebinding)
        return Outcome(Verdict.FAILED, f"refused to send to {client.display_name}: {error}")
    if isinstance(error, httpx.TimeoutException):
        return Outcome(Verdict.RETRY, f"{client.display_name} did not answer in time ({type(error).__name__})")
    if isinstance(error, httpx.TransportError):
        return Outcome(Verdict.RETRY, f"could not reach {client.display_name} ({type(error).__name__})")
    return Outcome(Verdict.FAILED, f"could not send to {client.display_name}: {type(error).__name__}: {error}")
