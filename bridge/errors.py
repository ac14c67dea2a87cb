"""Errors as types. Each carries a code, a message safe to show the caller and
the HTTP status it maps to. bridge/web/problems.py maps them to API responses
(the dashboard's guard to pages), bridge/outcome.py maps what a delivery
meets to its verdict: each in one place."""

from __future__ import annotations


class BridgeError(Exception):
    code = "bridge_error"
    status = 400
    title = "Bad request"
    # Why, in a word from a short fixed list, for metrics labels: the message
    # is for people and unbounded. The code unless a subclass says more.
    reason: str | None = None

    @property
    def metric_reason(self) -> str:
        return self.reason or self.code

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = {k: v for k, v in detail.items() if v is not None}


class SignatureError(BridgeError):
    """The request could not be proven to come from the vendor: the proof
    did not match (the subclasses below say when something else was wrong).
    Every kind answers the same code; the reason tells them apart in metrics."""

    code = "signature_invalid"
    status = 401
    title = "Signature verification failed"
    reason = "mismatch"


class SignatureMissing(SignatureError):
    reason = "missing"  # no signature or credential header at all


class SignatureMalformed(SignatureError):
    reason = "malformed"  # a header that cannot be read as the scheme says


class SignatureStale(SignatureError):
    reason = "stale"  # signed, but outside the timestamp tolerance


class SignatureNotAllowed(SignatureError):
    reason = "not_allowed"  # a scheme, secret placement or restaurant this connection refuses


class NoSigningSecret(SignatureError):
    reason = "no_secret"  # the connection has nothing to verify with: an operator's fix


class UnknownConnection(BridgeError):
    code = "unknown_connection"
    status = 404
    title = "No such connection"


class PayloadError(BridgeError):
    """The body is not what the vendor documents; `path` says where."""

    code = "payload_invalid"
    status = 400
    title = "Unreadable payload"

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message if not path else f"{path}: {message}", path=path)
        self.path = path


class ValidationFailed(BridgeError):
    """A readable request that breaks the contract: each error says what to fix."""

    code = "validation_failed"
    status = 422
    title = "The sale cannot be accepted as sent"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        # RFC 9457 problem extension: {"detail", "pointer"} per error; the
        # detail sentence lists every fix, as a Zap step shows only the body.
        message = "; ".join(f"{e['pointer'].lstrip('#/') or 'body'}: {e['detail']}" for e in errors)
        super().__init__(message)
        self.detail = {"errors": errors, "message": message}


class ConflictingRepost(BridgeError):
    """The id of a stored event, re-posted with different content."""

    code = "conflicting_repost"
    status = 422
    title = "Already received with different content"

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"this reference was already received with a different {', '.join(fields)}; "
                         "send a new reference for a new sale", fields=fields)


class UnsupportedMediaType(BridgeError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class BodyTooLarge(BridgeError):
    code = "body_too_large"
    status = 413
    title = "Body too large"


class StoreUnavailable(BridgeError):
    """The raw event could not be committed: answer 503 so the vendor retries."""

    code = "store_unavailable"
    status = 503
    title = "Temporarily unable to store the request"


class ConfigError(BridgeError):
    """Bad operator input (a CLI flag, a connection setting)."""

    code = "config_invalid"
    status = 400
    title = "Invalid configuration"


class ReconcileUnavailable(BridgeError):
    """The connection cannot be reconciled as it is (generic, no token, no such id)."""

    code = "reconcile_unavailable"
    status = 409
    title = "Cannot reconcile this connection"


class VendorTokenRejected(BridgeError):
    """The vendor's API refused the connection's token (401/403): nothing more
    is asked of it until the token is rotated."""

    code = "vendor_token_rejected"
    status = 409
    title = "The vendor refused the connection's API token"

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.status_code = status_code


class VendorAPIUnavailable(BridgeError):
    """429, a 5xx, a timeout: the same request may succeed later
    (not before `retry_after` seconds, when the vendor said so)."""

    code = "vendor_api_unavailable"
    status = 503
    title = "The vendor's API is unavailable"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unmatched(Exception):
    """The target cannot identify the customer from what the sale carries."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SkipTransaction(Exception):
    """Enrichment learned that this transaction must not be delivered (with why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EnrichmentUnavailable(Exception):
    """The vendor's API could not be reached for enrichment; try the event later
    (not before `retry_after` seconds, when the vendor said so)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# -- the admin API, the dashboard and the CLI ---------------------------------

class NotFound(BridgeError):
    code = "not_found"
    status = 404
    title = "Not found"


class BadRequest(BridgeError):
    code = "bad_request"
    status = 400
    title = "Bad request"


class BadFilter(BridgeError):
    code = "bad_filter"
    status = 400
    title = "Bad search filter"


class AdminAuthRequired(BridgeError):
    code = "admin_auth_required"
    status = 401
    title = "Admin token required"


class AdminForbidden(BridgeError):
    code = "admin_forbidden"
    status = 403
    title = "Admin access refused"


class FormExpired(BridgeError):
    """A dashboard form without this session's CSRF token."""

    code = "csrf_failed"
    status = 400
    title = "This form has expired"


class ConnectionNotActive(BridgeError):
    code = "connection_not_active"
    status = 409
    title = "The connection is not active"


class RateLimited(BridgeError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
