"""Fixtures for the fault suite: a production-mode stack, and servers of our own
for the scenarios that stop them."""

from __future__ import annotations

import atexit
import shutil

import pytest

from tests.faults.stack import RestartablePostgres, RestartableRedis, Sender, Stack
from tests.services import _pg_binary, _unavailable


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "faults: fault-injection scenarios on real processes (FAULTS_N sales each; see tests/faults/README.md)")


@pytest.fixture
def stacks(tmp_path):
    """Factory: ``stacks(database_url, redis_url, **env)`` -> a started Stack; all stopped afterwards."""
    made: list[Stack] = []

    def make(database_url: str, redis_url: str, **env: str) -> Stack:
        stack = Stack(tmp_path / f"stack{len(made)}", database_url, redis_url, **env)
        stack.workdir.mkdir()
        made.append(stack)
        return stack.start()

    yield make
    for stack in made:
        stack.close()


@pytest.fixture
def sender():
    s = Sender()
    yield s
    s.close()


@pytest.fixture
def own_redis():
    """A redis-server of this test's own: CI's TEST_REDIS_URL server must not be stopped."""
    if shutil.which("redis-server") is None:
        _unavailable("redis-server not found on PATH: this scenario stops Redis, so it needs its own")
    server = RestartableRedis()
    atexit.register(server.stop)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_postgres():
    """A throwaway PostgreSQL cluster of this test's own, so it can be restarted."""
    missing = [name for name in ("initdb", "pg_ctl") if _pg_binary(name) is None]
    if missing:
        _unavailable(f"{', '.join(missing)} not found: this scenario restarts PostgreSQL, so it needs its own")
    server = RestartablePostgres()
    atexit.register(server.stop)
    server.start()
    yield server
    server.stop()
