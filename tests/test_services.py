"""The service fixtures themselves: real servers, isolated per test."""

import subprocess
import sys

import psycopg
import pytest
import redis

from tests.services import libpq_url, service_env

pytestmark = pytest.mark.services


def test_postgres_answers(postgres_url):
    assert postgres_url.startswith("postgresql+psycopg://")
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_fresh_postgres_dbs_are_distinct_and_empty(make_postgres_db):
    first, second = make_postgres_db(), make_postgres_db()
    assert first != second

    with psycopg.connect(libpq_url(first), autocommit=True) as conn:
        conn.execute("create table marker (id int)")
        conn.execute("insert into marker values (1)")
    with psycopg.connect(libpq_url(second)) as conn:
        # The table made in `first` is not visible in `second`.
        assert conn.execute("select to_regclass('marker')").fetchone() == (None,)


_made_by_previous_test: list[str] = []


def test_make_postgres_db_survives_leaked_connection(postgres_url, make_postgres_db):
    url = make_postgres_db()
    _made_by_previous_test.append(url.rsplit("/", 1)[1])
    # A test that forgets to close a connection: the teardown's
    # DROP DATABASE ... WITH (FORCE) must still succeed.
    leaked = psycopg.connect(libpq_url(url))
    assert leaked.execute("select 1").fetchone() == (1,)


def test_databases_are_dropped_after_the_test(postgres_url):
    # Relies on file order; trivially true when run alone.
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        for name in _made_by_previous_test:
            assert conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone() is None


def test_fresh_postgres_db_works_with_sqlalchemy(fresh_postgres_db):
    import sqlalchemy as sa

    engine = sa.create_engine(fresh_postgres_db)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar().startswith("bridge_test_")
    finally:
        engine.dispose()


def test_redis_ping_set_get(redis_url):
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
        client.set("bridge-test-key", "hello")
        assert client.get("bridge-test-key") == b"hello"
    finally:
        client.close()


def test_fresh_redis_url_starts_empty(redis_url, fresh_redis_url):
    client = redis.Redis.from_url(fresh_redis_url)
    try:
        # Whatever earlier tests (e.g. the SET above) left behind is gone.
        assert client.dbsize() == 0
        client.set("leftover", "1")  # the next fresh_redis_url user must not see this
    finally:
        client.close()


def test_fresh_redis_url_starts_empty_again(fresh_redis_url):
    client = redis.Redis.from_url(fresh_redis_url)
    try:
        assert client.get("leftover") is None
    finally:
        client.close()


def test_service_env_reaches_subprocess(fresh_postgres_db, fresh_redis_url):
    env = service_env(database_url=fresh_postgres_db, redis_url=fresh_redis_url)
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ['DATABASE_URL']); print(os.environ['REDIS_URL'])"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert out == [fresh_postgres_db, fresh_redis_url]
