"""Real PostgreSQL and Redis servers for the test suite.

Loaded as a pytest plugin (``pytest_plugins = ["tests.services"]``).

Each service is found or started once per session:

* ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` point at servers somebody else
  runs (CI does this, see ``.ci/run``); we only check that they answer.
* Otherwise a throwaway server is started in a temp dir on a free port and
  torn down at session end.

If a server can't be found or started the dependent tests are skipped, so a
laptop without Redis still runs everything else.  CI sets
``BRIDGE_TEST_REQUIRE_SERVICES=1``, which turns that skip into an error: a
CI run that silently skipped every database test would be worse than useless.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

READY_TIMEOUT = 30.0  # seconds to wait for a server to answer

PG_INSTALL_HINT = (
    "install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`; "
    "macOS: `brew install postgresql@15`) or set TEST_DATABASE_URL"
)
REDIS_INSTALL_HINT = (
    "install Redis (Debian/Ubuntu: `apt-get install redis-server`; "
    "macOS: `brew install redis`) or set TEST_REDIS_URL"
)


# ---------------------------------------------------------------- helpers


def services_required() -> bool:
    return os.environ.get("BRIDGE_TEST_REQUIRE_SERVICES") == "1"


def _unavailable(message: str):
    """Skip locally, fail in CI (BRIDGE_TEST_REQUIRE_SERVICES=1)."""
    if services_required():
        pytest.fail("BRIDGE_TEST_REQUIRE_SERVICES=1, so this is an error, not a skip: " + message,
                    pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _kill_group(pid: int) -> None:
    """SIGKILL a process and everything in its process group; ignore if gone."""
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def service_env(database_url: str | None = None, redis_url: str | None = None,
                base: dict | None = None) -> dict:
    """Environment for a subprocess (the app, a Celery worker) under test.

    ``base`` defaults to a copy of os.environ so PATH, the venv etc. survive.
    """
    env = dict(os.environ if base is None else base)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return env


# ---------------------------------------------------------------- PostgreSQL


def _pg_binary(name: str) -> str | None:
    """Find initdb/pg_ctl: on PATH, or where Debian packages hide them."""
    found = shutil.which(name)
    if found:
        return found
    def major(path: str) -> float:
        try:
            return float(Path(path).parts[-3])
        except ValueError:
            return 0.0

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=major, reverse=True)
    return candidates[0] if candidates else None


def _pg_os_user() -> pwd.struct_passwd | None:
    """The OS user that owns the cluster: None means "whoever we are".

    initdb refuses to run as root, so as root we drop to `postgres`,
    creating that system user if the machine has none.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
            check=True, capture_output=True,
        )
        return pwd.getpwnam("postgres")


def libpq_url(sqlalchemy_url: str) -> str:
    """postgresql+psycopg://... -> postgresql://... (what psycopg.connect wants)."""
    from sqlalchemy.engine import make_url

    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, dbname: str | None = None) -> str:
    """The same server as `url`, database `dbname`, always with the psycopg driver."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    parsed = parsed.set(drivername="postgresql+psycopg", database=dbname or parsed.database or "postgres")
    return parsed.render_as_string(hide_password=False)


def _pg_answers(url: str) -> str | None:
    """None if `select 1` works, else the error text."""
    import psycopg

    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return f"{type(exc).__name__}: {exc}".strip()


class PostgresServer:
    """A throwaway cluster: initdb + pg_ctl in a temp dir, trust auth, no fsync."""

    def __init__(self) -> None:
        self.initdb = _pg_binary("initdb")
        self.pg_ctl = _pg_binary("pg_ctl")
        self.user = _pg_os_user()
        self.port = free_port()
        # Not pytest's tmp_path: that lives under a 0700 root-owned dir the
        # `postgres` user can't enter.
        self.root = Path(tempfile.mkdtemp(prefix="bridge-test-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.user is not None:
            kwargs = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        return subprocess.run(
            list(args), cwd=self.root, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "HOME": str(self.root), "LC_ALL": "C"}, **kwargs,
        )

    def start(self) -> None:
        # -U postgres: same superuser name whichever OS user runs initdb.
        r = self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--no-sync")
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{r.stdout}\n{r.stderr}")
        # Settings go in the config file rather than `pg_ctl -o` to avoid quoting games.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# tests/services.py: throwaway test server\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        r = self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w",
                      "-t", str(int(READY_TIMEOUT)), "start", timeout=READY_TIMEOUT + 10)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{r.stdout}{r.stderr}")
        # pg_ctl -w checks the socket; make sure TCP on our port really works.
        deadline = time.monotonic() + READY_TIMEOUT
        while (error := _pg_answers(self.url)) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not answer on {self.url}: {error}")
            time.sleep(0.2)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.data.exists() and self.pg_ctl:
            for mode in ("fast", "immediate"):
                try:
                    r = self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "20", "stop",
                                  timeout=30)
                except subprocess.TimeoutExpired:
                    continue
                if r.returncode == 0 or "Is server running?" in r.stderr:
                    break
            # Last resort: postmaster.pid only survives if the stop failed.
            pid = self._postmaster_pid()
            if pid:
                _kill_group(pid)
        shutil.rmtree(self.root, ignore_errors=True)


def _start(server_class, what: str):
    """Start a server, retrying on a fresh port if another process grabbed ours
    between free_port() and the bind (rare, but CI runs things in parallel)."""
    for _ in range(3):
        server = server_class()
        atexit.register(server.stop)  # belt and braces if the finalizer never runs
        try:
            server.start()
            return server
        except Exception as exc:  # noqa: BLE001
            error, log_tail = exc, _log_tail(server.log)
            server.stop()
        if "Address already in use" not in log_tail:
            break
    # Outside the except block so the report isn't cluttered with "during handling...".
    _unavailable(f"could not start a test {what} server: {error}\n--- server log (tail) ---\n{log_tail}")


@pytest.fixture(scope="session")
def postgres_url(request) -> str:
    """SQLAlchemy URL of a running PostgreSQL; connect as a superuser."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = _with_database(url)  # accept postgresql:// too
        if (error := _pg_answers(url)) is not None:
            _unavailable(f"TEST_DATABASE_URL={url} does not answer: {error}")
        return url
    missing = [name for name in ("initdb", "pg_ctl") if _pg_binary(name) is None]
    if missing:
        _unavailable(f"PostgreSQL not available: {', '.join(missing)} not found on PATH; {PG_INSTALL_HINT}")
    server = _start(PostgresServer, "PostgreSQL")
    request.addfinalizer(server.stop)
    return server.url


@pytest.fixture
def make_postgres_db(postgres_url):
    """Factory: ``make_postgres_db()`` -> URL of a new, empty database.

    Every database made during the test is dropped afterwards.
    """
    import psycopg

    created: list[str] = []

    def make() -> str:
        name = f"bridge_test_{uuid.uuid4().hex[:12]}"
        # CREATE DATABASE can't run inside a transaction, hence autocommit.
        with psycopg.connect(libpq_url(postgres_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _with_database(postgres_url, name)

    yield make

    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as conn:
        for name in created:
            # FORCE: a test's leftover engine/pool connections must not block the drop.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_postgres_db(make_postgres_db) -> str:
    """URL of an empty database of its own for this test."""
    return make_postgres_db()


# ---------------------------------------------------------------- Redis


def _redis_answers(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


class RedisServer:
    """redis-server as a child process: no persistence, loopback only."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="bridge-test-redis-"))
        self.log = self.root / "redis.log"
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.root)],
                cwd=self.root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: killable as a unit, immune to ^C races
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while (error := _redis_answers(self.url)) is not None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on {self.url} within {READY_TIMEOUT:.0f}s: {error}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc.pid)
                self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(request) -> str:
    """URL of a running Redis server (db 0)."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        if (error := _redis_answers(url)) is not None:
            _unavailable(f"TEST_REDIS_URL={url} does not answer: {error}")
        return url
    if shutil.which("redis-server") is None:
        _unavailable(f"Redis not available: redis-server not found on PATH; {REDIS_INSTALL_HINT}")
    server = _start(RedisServer, "Redis")
    request.addfinalizer(server.stop)
    return server.url


@pytest.fixture
def fresh_redis_url(redis_url) -> str:
    """The session Redis, emptied (FLUSHALL, every db) before this test.

    Don't point TEST_REDIS_URL at a server whose data you want to keep.
    """
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_url
