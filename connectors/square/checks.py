"""The go-live check of a Square access token: list locations through the squareup SDK,
a read-only call that needs only MERCHANT_PROFILE_READ."""

from __future__ import annotations

import httpx

from bridge.contract import ConnectionContext
from bridge.golive.check import ROTATE_VENDOR, VendorCheck, describe_transport_error


def check_vendor_api(ctx: ConnectionContext) -> VendorCheck:
    from square.core.api_error import ApiError

    from connectors.square.customers import _REQUEST_OPTIONS, square_client

    fix_token = ("create a new access token in Square Developer Console → your app → Credentials and run "
                 f"`{ROTATE_VENDOR.format(id=ctx.id)}`")
    try:
        answer = square_client(ctx).locations.list(request_options=_REQUEST_OPTIONS)
    except ApiError as error:
        status = error.status_code
        if status == 401:
            return VendorCheck(False, "Square rejected the access token (401)", fix_token)
        if status == 403:
            return VendorCheck(False, "Square refused to list locations with this token (403): it lacks "
                        "the MERCHANT_PROFILE_READ permission",
                        f"give the token MERCHANT_PROFILE_READ and CUSTOMERS_READ and run "
                        f"`{ROTATE_VENDOR.format(id=ctx.id)}`")
        return VendorCheck(False, f"Square's Locations API answered {status}",
                    "Square may be having trouble: run the check again in a few minutes")
    except httpx.HTTPError as error:
        detail, fix = describe_transport_error(error, _square_base(ctx), 10.0, "Square")
        return VendorCheck(False, f"Square API: {detail}", fix)
    names = [location.name or location.id or "?" for location in (answer.locations or [])]
    listed = f": {', '.join(names[:5])}" + (" …" if len(names) > 5 else "") if names else ""
    return VendorCheck(True, f"Square accepted the access token ({len(names)} location(s){listed})")


def _square_base(ctx: ConnectionContext) -> str:
    if ctx.setting("api_base_url"):
        return str(ctx.setting("api_base_url"))
    return ("https://connect.squareupsandbox.com" if ctx.setting("environment") == "sandbox"
            else "https://connect.squareup.com")
