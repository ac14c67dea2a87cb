"""Shared fixtures for tests under tests/ and connectors/*/tests/."""

import pytest

from bridge.sandbox import create_sandbox_app
from tests.support import ADMIN_TOKEN, Harness, LiveServer

pytest_plugins = ["tests.services"]


@pytest.fixture
def harness(tmp_path):
    """The bridge on SQLite with the sandbox core mounted."""
    h = Harness(f"sqlite:///{tmp_path / 'bridge.db'}")
    yield h
    h.close()


@pytest.fixture
def api(tmp_path):
    """The harness with the admin API on: `api.auth` holds the header that opens it."""
    h = Harness(f"sqlite:///{tmp_path / 'api.db'}", admin_token=ADMIN_TOKEN)
    h.auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    yield h
    h.close()


@pytest.fixture
def pg_harness(fresh_postgres_db):
    """The same harness on a fresh real PostgreSQL database."""
    h = Harness(fresh_postgres_db)
    yield h
    h.close()


@pytest.fixture
def live_sandbox():
    """The sandbox core on a real loopback port (for timeouts and subprocesses)."""
    server = LiveServer(create_sandbox_app())
    yield server
    server.close()
