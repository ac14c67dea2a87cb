"""Customer details from Square's Customers API, through the squareup SDK.

Used when the connection has a Square access token (--vendor-token): a payment
carries only `customer_id` (and maybe `buyer_email_address`); the customer
record has the email and phone the loyalty core can match on.
"""

from __future__ import annotations

import httpx
from square import Square
from square.core.api_error import ApiError
from square.environment import SquareEnvironment

from bridge.contract import ConnectionContext
from bridge.errors import EnrichmentUnavailable
from bridge.identity import normalize_email, normalize_phone
from bridge.model import Customer, Transaction
from bridge.vendor_api import http

# Our own retry schedule owns retries; the SDK's built-in ones would stack on it.
_REQUEST_OPTIONS = {"max_retries": 0, "timeout_in_seconds": 10}


def square_client(connection: ConnectionContext) -> Square:
    # One process-wide httpx client: a Square() of its own loads the TLS certificates each time.
    base_url = connection.setting("api_base_url")
    if base_url:
        return Square(token=connection.vendor_token, base_url=str(base_url).rstrip("/"), httpx_client=http())
    environment = (SquareEnvironment.SANDBOX if connection.setting("environment") == "sandbox"
                   else SquareEnvironment.PRODUCTION)
    return Square(token=connection.vendor_token, environment=environment, httpx_client=http())


def enrich_from_square(transaction: Transaction, connection: ConnectionContext) -> Transaction:
    customer_id = transaction.customer.vendor_customer_id
    if not connection.vendor_token or not customer_id:
        return transaction
    try:
        response = square_client(connection).customers.get(
            customer_id=customer_id, request_options=_REQUEST_OPTIONS)
    except ApiError as error:
        if error.status_code in (404, 400):
            return transaction  # deleted or foreign customer: nothing to add
        if error.status_code in (401, 403):
            # A bad token must not hold the sale back; what the webhook gave still counts.
            return transaction
        raise EnrichmentUnavailable(f"Square Customers API answered {error.status_code}") from None
    except httpx.HTTPError as error:
        raise EnrichmentUnavailable(f"Square Customers API unreachable: {type(error).__name__}") from None
    found = response.customer
    if found is None:
        return transaction
    name = " ".join(part for part in (found.given_name, found.family_name) if part) or None
    from_square = Customer(
        email=normalize_email(found.email_address),
        phone=normalize_phone(found.phone_number, connection.country),
        name=name,
    )
    return transaction.with_customer(transaction.customer.merged_with(from_square))
