"""Structured logs: every line about an event says which event and connection."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bridge.logs import ContextFilter, JsonFormatter, log_context


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bridge")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_every_line_of_an_event_carries_its_ids_and_no_secret(harness, json_lines):
    connection = harness.add_connection(signing_keys=("sq-signing-secret-123",), target_key="xtarly_pos_demo")
    harness.sandbox("post", "faults", json={"api": "xtarly", "status": 503, "count": 1})
    harness.post_fixture(connection.id, "payment.updated.completed", signing_key="sq-signing-secret-123")
    [event] = harness.events()
    harness.drain()
    lines = [line for line in json_lines() if line["logger"] in ("bridge.delivery", "bridge.pipeline")]
    assert lines, "the worker logged nothing"
    for line in lines:
        assert line["event_id"] == event.id and line["connection_id"] == connection.id, line
        assert "transaction_id" in line and line["level"] == "INFO"
    text = json.dumps(json_lines())
    assert "sq-signing-secret-123" not in text and "xtarly_pos_demo" not in text


def test_context_ends_with_its_work(json_lines):
    log = logging.getLogger("bridge.test")
    with log_context(event_id=7, connection_id="con_a"):
        log.warning("inside")
    log.warning("after")
    inside, after = json_lines()
    assert (inside["event_id"], inside["connection_id"]) == (7, "con_a")
    assert "event_id" not in after and "connection_id" not in after
