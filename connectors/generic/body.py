"""The request body → one flat mapping of fields, however the flow sent it.

Zapier's POST action form-encodes by default and sends JSON on request, its
Raw payload arrives as text/plain, Make and n8n add multipart (vendor notes,
generic.md §1–2). JSON numbers are read as Decimal, never float.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import HTTPException
from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header

from bridge.errors import ValidationFailed

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
TEXT = "text/plain"
CONTENT_TYPES = (JSON, FORM, MULTIPART, TEXT)
MAX_FIELDS = 200


class UnreadableBody(ValidationFailed):
    """Not a sale at all. 400, as for every vendor's unreadable body, but
    shaped and stored like a 422 so support and the Zap see the same fix."""

    code = "payload_invalid"
    status = 400
    title = "Unreadable payload"

    def __init__(self, detail: str) -> None:
        super().__init__([{"detail": detail, "pointer": "#"}])


@dataclass(frozen=True)
class Fields:
    values: dict[str, Any]
    files: tuple[str, ...] = ()  # multipart file parts: ignored, echoed
    repeated: tuple[str, ...] = ()  # sent twice with different values


class _Object(dict):
    repeated: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    document = _Object()
    repeated = []
    for key, value in pairs:
        if key in document and document[key] != value:
            repeated.append(key)
        document[key] = value
    document.repeated = tuple(repeated)
    return document


def _constant(name: str):
    raise _NotANumber(name)


class _NotANumber(ValueError):
    pass


def read_fields(body: bytes, content_type: str | None) -> Fields:
    media_type, options = parse_options_header(content_type or "")
    media_type = media_type.lower()
    if media_type == MULTIPART:
        return _multipart(body, options.get("boundary"))
    text = _text(body)
    looks_like_json = text.lstrip()[:1] in ("{", "[")
    if media_type in (JSON, TEXT) or looks_like_json:
        # curl -d '{...}' without -H labels JSON as a form: read what was meant.
        return _json(text, plain=media_type == TEXT)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise UnreadableBody(f"more than {MAX_FIELDS} fields: send only the sale's fields") from None
    return _pairs(pairs)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableBody("the body is not UTF-8 text: send it as UTF-8") from None


def _json(text: str, plain: bool) -> Fields:
    try:
        document = json.loads(text, parse_float=Decimal, parse_int=Decimal,
                              parse_constant=_constant, object_pairs_hook=_object_pairs)
    except _NotANumber as constant:
        raise UnreadableBody(f"{constant} is not a number in JSON: send the amount as digits") from None
    except json.JSONDecodeError as error:
        hint = (" (a text/plain body must be JSON: choose the JSON payload type, or send form fields)"
                if plain else "; check quotes, commas and braces")
        raise UnreadableBody(f"malformed JSON at line {error.lineno} column {error.colno}{hint}") from None
    except (RecursionError, ValueError):
        raise UnreadableBody("the JSON is nested too deeply: send flat fields") from None
    if isinstance(document, list):
        # Zapier's "Wrap Request In Array" sends [ {...} ].
        if len(document) == 1 and isinstance(document[0], dict):
            document = document[0]
        else:
            raise UnreadableBody(f"send one sale per request as a JSON object, not a list of {len(document)}")
    if not isinstance(document, dict):
        raise UnreadableBody('send the sale as a JSON object, like {"reference": "R-1001", "amount": "12.50"}')
    return Fields(values=dict(document), repeated=document.repeated)


def _pairs(pairs: list[tuple[str, str]], files: tuple[str, ...] = ()) -> Fields:
    values: dict[str, Any] = {}
    repeated = []
    for key, value in pairs:
        if key in values and values[key] != value:
            repeated.append(key)
        values[key] = value
    return Fields(values=values, files=files, repeated=tuple(repeated))


def _multipart(body: bytes, boundary: str | None) -> Fields:
    if not boundary:
        raise UnreadableBody("multipart body without a boundary: let the tool set the Content-Type header")
    parser = MultiPartParser(max_form_memory_size=len(body) + 1, max_form_parts=MAX_FIELDS)
    try:
        form, files = parser.parse(io.BytesIO(body), boundary.encode("latin-1"), len(body))
    except (ValueError, UnicodeEncodeError, HTTPException):
        raise UnreadableBody("malformed multipart body: send form fields, or JSON") from None
    for storage in files.values():
        storage.close()
    return _pairs(list(form.items(multi=True)), files=tuple(dict.fromkeys(files.keys())))
