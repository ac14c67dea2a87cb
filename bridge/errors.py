"""Errors as types. Each carries a code, a message safe to show the caller and
the HTTP status it maps to; bridge.web.errors maps them to responses and
worker.outcome maps delivery errors to states, each in one place."""

from __future__ import annotations


class BridgeError(Exception):
    code = "bridge_error"
    status = 400
    title = "Bad request"

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = {k: v for k, v in detail.items() if v is not None}


class SignatureError(BridgeError):
    """The request could not be proven to come from the vendor."""

    code = "signature_invalid"
    status = 401
    title = "Signature verification failed"


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


class DeliveryError(Exception):
    """Base of what a loyalty-core client raises; worker.outcome classifies."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class Unmatched(DeliveryError):
    """The target cannot identify the customer from what the sale carries."""


class PermanentDeliveryError(DeliveryError):
    """Retrying the same request cannot succeed (400, a refused target URL)."""


class RetryableDeliveryError(DeliveryError):
    def __init__(self, message: str, status_code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


class TargetKeyRejected(DeliveryError):
    """401: the connection's key is wrong; pause the connection, keep everything."""


class EnrichmentUnavailable(Exception):
    """The vendor's API could not be reached for enrichment; try the event later."""
