"""The go-live check of Toast client credentials: obtain a machine-client token."""

from __future__ import annotations

from bridge.contract import ConnectionContext
from bridge.golive.check import VendorCheck


def check_vendor_api(ctx: ConnectionContext) -> VendorCheck:
    from bridge.errors import EnrichmentUnavailable
    from connectors.toast.api import ToastApi

    try:
        with ToastApi(ctx) as api:
            api.session.token(api.http, api.host, api.client_id, api.secret)
    except EnrichmentUnavailable as error:
        message = str(error)
        if "refused" in message:
            fix = ("copy the API client's ID and secret from the Toast developer portal → Credentials and run "
                   f"`bridge connections rotate-key {ctx.id} --vendor-token CLIENT_ID:CLIENT_SECRET`")
        elif "token requests an hour" in message:
            fix = "Toast limits token requests: run the check again in an hour"
        else:
            fix = "check the api_base_url setting and this server's outbound access; run the check again later"
        return VendorCheck(False, message, fix)
    return VendorCheck(True, f"Toast issued a machine-client token for client {api.client_id} ({api.host})")
