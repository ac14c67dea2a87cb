"""The go-live check of a Lightspeed X-Series token: GET /api/2.0/retailer, uncached."""

from __future__ import annotations

from bridge.contract import ConnectionContext
from bridge.golive.check import ROTATE_VENDOR, VendorCheck


def check_vendor_api(ctx: ConnectionContext) -> VendorCheck:
    from bridge.errors import EnrichmentUnavailable, PayloadError, SkipTransaction
    from connectors.lightspeed.api import LightspeedAPI

    try:
        api = LightspeedAPI(ctx)
        retailer = api._data("/api/2.0/retailer")  # the connector's own call, uncached
    except SkipTransaction as refused:
        if "refused" in refused.reason:
            fix = ("create a new personal token in Lightspeed Retail → Setup → Personal tokens (or re-authorise "
                   f"the OAuth app) and run `{ROTATE_VENDOR.format(id=ctx.id)}`")
        else:
            fix = f"check the domain_prefix setting: `bridge connections set {ctx.id} domain_prefix=PREFIX`"
        return VendorCheck(False, f"Lightspeed X-Series API: {refused.reason}", fix)
    except EnrichmentUnavailable as error:
        return VendorCheck(False, str(error),
                    "check domain_prefix and this server's outbound access; run the check again in a few minutes")
    except PayloadError as error:
        return VendorCheck(False, f"Lightspeed X-Series API: {error.message}",
                    f"check the domain_prefix setting: `bridge connections set {ctx.id} domain_prefix=PREFIX`")
    if retailer is None:
        return VendorCheck(False, f"{api.base} has no /api/2.0/retailer (404): the domain prefix is wrong",
                    f"set the store's prefix from <prefix>.retail.lightspeed.app: "
                    f"`bridge connections set {ctx.id} domain_prefix=PREFIX`")
    name = retailer.get("name") if isinstance(retailer, dict) else None
    return VendorCheck(True, "Lightspeed X-Series accepted the token"
                + (f" (retailer {name})" if isinstance(name, str) and name else ""))
