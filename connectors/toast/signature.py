"""Toast-Signature: which bytes Toast signs is not fully documented.

DG:apiMessageSigning's Java sample signs `body + timestamp` (HMAC-SHA256,
standard base64) without saying which timestamp; the only one Toast documents
is the envelope's `timestamp` field, and there is no timestamp header.
Third-party verifiers sign the body alone (base64, or hex in one). We accept
those three readings, in this order, and say which matched; the `signing`
setting pins one once a merchant has confirmed it in the developer portal.

Confirm a delivery from the portal's event details (its body and signature):

    TOAST_SIGNING_SECRET=... python -m connectors.toast.signature body.json 'SIGNATURE'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
from getpass import getpass
from pathlib import Path
from typing import Iterable

BODY_AND_TIMESTAMP = "body+timestamp"
BODY = "body"
BODY_HEX = "body-hex"
READINGS = (BODY_AND_TIMESTAMP, BODY, BODY_HEX)
DEFAULT_READING = BODY_AND_TIMESTAMP


def envelope_timestamp(body: bytes) -> str | None:
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    timestamp = document.get("timestamp") if isinstance(document, dict) else None
    return timestamp if isinstance(timestamp, str) else None


def _digest(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()


def signature_for(reading: str, body: bytes, key: str) -> str | None:
    """What Toast would send under `reading`; None when the body has no timestamp to sign."""
    if reading == BODY_AND_TIMESTAMP:
        timestamp = envelope_timestamp(body)
        if timestamp is None:
            return None
        return base64.b64encode(_digest(key, body + timestamp.encode("utf-8"))).decode()
    if reading == BODY:
        return base64.b64encode(_digest(key, body)).decode()
    if reading == BODY_HEX:
        return _digest(key, body).hex()
    raise ValueError(f"unknown signing reading {reading!r}")


def matching_reading(body: bytes, signature: str, keys: Iterable[str],
                     readings: Iterable[str] = READINGS) -> tuple[str, int] | None:
    """The reading and the index of the key that produce `signature`, if any."""
    sent = signature.strip().encode("utf-8", "replace")
    keys = tuple(keys)
    for reading in readings:
        candidate = sent.lower() if reading == BODY_HEX else sent
        for index, key in enumerate(keys):
            expected = signature_for(reading, body, key)
            if expected is not None and hmac.compare_digest(expected.encode(), candidate):
                return reading, index
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    body = Path(args[0]).read_bytes()
    # The portal shows the body as sent; a trailing newline from an editor is not Toast's.
    body = body[:-1] if body.endswith(b"\n") else body
    secret = os.environ.get("TOAST_SIGNING_SECRET") or getpass("Toast subscription secret: ")
    found = matching_reading(body, args[1], [secret])
    if found is None:
        print("no reading matches: wrong secret, or the body was changed (copy it byte for byte)")
        return 1
    print(f"signature matches the {found[0]!r} reading: "
          f"pin it with --set signing={found[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
