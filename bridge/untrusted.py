"""Typed getters for untrusted JSON: a wrong shape raises PayloadError naming
the path, not a KeyError three frames deep."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from bridge.errors import PayloadError

_MISSING = object()


def load_json(body: bytes, **options: Any) -> Any:
    """The body as JSON (`options` go to json.loads, e.g. parse_float=Decimal)."""
    if not body.strip():
        raise PayloadError("empty body")
    try:
        return json.loads(body.decode("utf-8"), **options)
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise PayloadError(f"malformed JSON at line {error.lineno} column {error.colno}") from None
    except RecursionError:  # found by tests/test_fuzz.py: [[[[...]]]] a few thousand deep
        raise PayloadError("JSON nested too deeply") from None


def _walk(document: Any, path: str) -> Any:
    current = document
    for part in path.split("."):
        if not isinstance(current, dict):
            raise PayloadError("expected an object", path=path)
        current = current.get(part, _MISSING)
        if current is _MISSING:
            return _MISSING
    return current


def get_object(document: Any, path: str, required: bool = True) -> dict | None:
    value = _walk(document, path)
    if value is _MISSING or value is None:
        if required:
            raise PayloadError("missing", path=path)
        return None
    if not isinstance(value, dict):
        raise PayloadError("expected an object", path=path)
    return value


def get_str(document: Any, path: str, required: bool = True) -> str | None:
    value = _walk(document, path)
    if value is _MISSING or value is None or value == "":
        if required:
            raise PayloadError("missing", path=path)
        return None
    if not isinstance(value, str):
        raise PayloadError("expected a string", path=path)
    return value


def get_int(document: Any, path: str, required: bool = True) -> int | None:
    value = _walk(document, path)
    if value is _MISSING or value is None:
        if required:
            raise PayloadError("missing", path=path)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError("expected an integer", path=path)
    return value


def get_datetime(document: Any, path: str, required: bool = True) -> datetime | None:
    text = get_str(document, path, required)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"not an ISO 8601 time: {text!r}", path=path) from None
    if parsed.tzinfo is None:
        raise PayloadError(f"time without a zone: {text!r}", path=path)
    return parsed.astimezone(timezone.utc)
