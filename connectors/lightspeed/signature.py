"""Lightspeed X-Series webhook signatures, in each reading the docs leave open.

docs.vendhq.com/tutorials/guides/webhooks/introduction, "Verification": OAuth
apps get `X-Signature: signature=<hmac>,algorithm=HMAC-SHA256`, the HMAC of
"the webhook request body" keyed with the app's `client_secret`. Not said:
whether that is the raw form body or the decoded `payload` JSON, nor hex or
base64 (the sample value is neither). All four readings are accepted, the raw
body in hex first (our default, and what `sign` produces); the one that
matched is logged so the list can shrink once a live store shows which.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable

from bridge.errors import NoSigningSecret, SignatureError, SignatureMalformed, SignatureMissing

log = logging.getLogger("connectors.lightspeed")

HEADER = "X-Signature"
ALGORITHM = "HMAC-SHA256"
RAW_BODY, PAYLOAD = "raw body", "payload field"
READINGS = ((RAW_BODY, "hex"), (RAW_BODY, "base64"), (PAYLOAD, "hex"), (PAYLOAD, "base64"))


def digest(key: str, message: bytes, encoding: str) -> str:
    mac = hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode("ascii")


def header_value(signature: str) -> str:
    return f"signature={signature},algorithm={ALGORITHM}"


def _members(value: str) -> dict[str, str]:
    members = {}
    for part in value.split(","):
        # partition, not split: base64 ends in "=" padding.
        name, sep, member = part.strip().partition("=")
        if sep:
            members[name.strip().lower()] = member.strip()
    return members


def check(header: str | None, raw_body: bytes, payload: bytes | None,
          keys: Iterable[str], connection_id: str) -> str:
    """The reading that matched; SignatureError with the specific reason otherwise."""
    if not header:
        raise SignatureMissing(
            f"no {HEADER} header: unsigned request on a connection that expects signatures "
            "(Lightspeed X-Series signs only webhooks of OAuth apps; "
            "for a personal-token webhook, set auth=unsigned and give the connection a token)")
    members = _members(header)
    signature = members.get("signature")
    if not signature:
        raise SignatureMalformed(f"{HEADER} has no signature= member")
    algorithm = members.get("algorithm", ALGORITHM)
    if algorithm.upper() != ALGORITHM:
        raise SignatureMalformed(f"{HEADER} names algorithm {algorithm}; only {ALGORITHM} is documented")
    keys = tuple(keys)
    if not keys:
        raise NoSigningSecret("the connection has no Lightspeed X-Series client secret")
    messages = {RAW_BODY: raw_body, PAYLOAD: payload}
    given = signature.encode("utf-8")
    for key in keys:
        for source, encoding in READINGS:
            message = messages[source]
            if message is None:
                continue
            expected = digest(key, message, encoding)
            # Hex may come in either case; base64 is case-sensitive.
            candidate = given.lower() if encoding == "hex" else given
            if hmac.compare_digest(candidate, expected.encode("ascii")):
                reading = f"{encoding} over the {source}"
                log.info("Lightspeed X-Series signature matched (%s) for connection %s", reading, connection_id)
                return reading
    raise SignatureError("the signature does not match the app's client secret (tried hex and base64, over "
                         "the raw body and over the payload field): check the client secret in the Lightspeed "
                         "developer portal, or the body was changed on its way; the two look the same from here")
