"""Log lines that say which event, connection and transaction they are about.

`log_context(event_id=..., connection_id=...)` marks the work under way (a
context variable, so each thread and task has its own); every line logged
meanwhile carries those fields: as JSON keys with BRIDGE_LOG_FORMAT=json, as
record attributes for any other formatter. Only ids are ever put here: never
a body, a header or a key.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Iterator

FIELDS = ("event_id", "connection_id", "transaction_id")
_context: ContextVar[dict] = ContextVar("bridge_log_context", default={})


@contextmanager
def log_context(**fields) -> Iterator[None]:
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def add_log_context(**fields) -> None:
    """Add to the current context (e.g. the connection, once the event is read)."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, context.get(name))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for name in FIELDS:
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(log_format: str) -> None:
    """One handler on the root logger, for the web, the workers and the CLI alike."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
