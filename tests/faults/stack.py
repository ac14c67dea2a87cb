"""A production-mode bridge for fault scenarios, and the bookkeeping around it.

`Stack` runs the real processes (gunicorn web, a Celery worker with two pool
processes, beat, the sandbox core as its own gunicorn) against a PostgreSQL
database and a Redis the scenario names, and can kill, stop and restart each
of them. `make_sales` builds unique signed sales for a few vendors,
`Sender` posts them the way a vendor does (a 503 or a dropped connection is
retried, and counted), and `account` checks the sandbox core's ledger and
`bridge events list --json`, then prints the scenario's line.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bridge import registry
from bridge.model import idempotency_key
from connectors.generic import auth as generic_auth
from tests.e2e.processes import Processes, tool, wait_until
from tests.services import PostgresServer, RedisServer, _pg_answers, free_port

N = int(os.environ.get("FAULTS_N", "60"))
FIXTURES = Path(__file__).resolve().parents[2] / "connectors" / "square" / "fixtures"
SQUARE_KEY = "faults-square-signature-key"
SETTLED = ("delivered", "skipped", "failed", "unmatched", "paused")
VISIBLE = ("failed", "unmatched", "paused")
CUSTOMERS = ("alice@example.com", "bob@example.com")


def scale(fraction: float, minimum: int = 1) -> int:
    return max(minimum, int(N * fraction))


# ---------------------------------------------------------------- processes


class FaultProcesses(Processes):
    """Processes that can also be SIGKILLed, and whose logs outlive them."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        super().__init__(workdir, env)
        self.gone: list[tuple[str, subprocess.Popen, Path]] = []

    def pid(self, name: str) -> int:
        return next(p.pid for n, p, _ in self.running if n == name)

    def kill(self, name: str) -> None:
        """SIGKILL the process and its whole group (a Celery worker's pool, gunicorn's workers)."""
        for entry in [e for e in self.running if e[0] == name]:
            _, process, _ = entry
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
            self.running.remove(entry)
            self.gone.append(entry)

    def stop(self, name: str) -> None:
        entries = [e for e in self.running if e[0] == name]
        super().stop(name)
        self.gone.extend(entries)

    def children(self, name: str) -> list[int]:
        pid = self.pid(name)
        try:
            return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def logs(self, tail: int = 40) -> str:
        parts = []
        for name, _, log in [*self.gone, *self.running]:
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {name} ({log.name}) ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def grep_logs(self, needle: str) -> list[str]:
        found = []
        for name, _, log in [*self.gone, *self.running]:
            found += [f"{name}: {line}" for line in log.read_text(errors="replace").splitlines() if needle in line]
        return found

    def stop_all(self) -> None:
        for _, process, _ in reversed(self.running):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, process, _ in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=5)
        self.gone.extend(self.running)
        self.running = []


# ---------------------------------------------------------------- servers we may stop


class RestartableRedis(RedisServer):
    """A redis-server of our own (never CI's shared one), so it can go down."""

    def halt(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def resume(self) -> None:
        self.start()  # same port, empty (no persistence): a restart loses every queued task


class RestartablePostgres(PostgresServer):
    """A throwaway cluster of our own, so it can be stopped and started again."""

    def halt(self, mode: str = "fast") -> None:
        r = self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", timeout=40)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed:\n{r.stdout}{r.stderr}")

    def resume(self) -> None:
        r = self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start",
                      timeout=40)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{r.stdout}{r.stderr}")
        wait_until(lambda: _pg_answers(self.url) is None, timeout=30, message="postgres to answer again")


# ---------------------------------------------------------------- the stack


class Stack:
    def __init__(self, workdir: Path, database_url: str, redis_url: str, **env: str) -> None:
        self.web_port, self.core_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.core = f"http://127.0.0.1:{self.core_port}"
        self.database_url, self.redis_url = database_url, redis_url
        self.procs = FaultProcesses(workdir, {
            "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "BRIDGE_PUBLIC_URL": self.base, "BRIDGE_ALLOW_PRIVATE_TARGETS": "1",
            "BRIDGE_SWEEP_INTERVAL": "1s", "BRIDGE_REQUEUE_AFTER": "3s",
            # Leases are 3 x timeout + 30 s: a short timeout keeps a killed worker's rows from waiting a minute.
            "BRIDGE_DELIVERY_TIMEOUT": "2s",
            "PYTHONUNBUFFERED": "1",
            **env,
        })
        self.workdir = workdir
        self.generation = Counter()
        self.engine = create_engine(database_url, poolclass=NullPool,
                                    connect_args={"connect_timeout": 3})
        self.connections: dict[str, dict] = {}

    # processes
    def _log_name(self, name: str) -> str:
        self.generation[name] += 1
        return name if self.generation[name] == 1 else f"{name}-{self.generation[name]}"

    def start(self) -> Stack:
        self.procs.cli("db", "upgrade")
        self.procs.start("sandbox", tool("gunicorn"), "--workers", "1", "--threads", "16", "--bind",
                         f"127.0.0.1:{self.core_port}", "bridge.sandbox.wsgi:app")
        self.start_web()
        self.start_worker()
        self.start_beat()
        self.procs.wait_http(f"{self.core}/_sandbox/ledger")
        self.wait_web()
        self.connect()
        return self

    def start_web(self) -> None:
        self._start("web", tool("gunicorn"), "--workers", "2", "--threads", "4", "--graceful-timeout", "5",
                    "--bind", f"127.0.0.1:{self.web_port}", "bridge.wsgi:app")

    def wait_web(self) -> None:
        self.procs.wait_http(f"{self.base}/healthz", timeout=60)

    def start_worker(self) -> None:
        self._start("worker", tool("celery"), "-A", "worker.celery_app:celery_app", "worker",
                    "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle")

    def start_beat(self) -> None:
        name = self._log_name("beat")
        self._start_named("beat", name, tool("celery"), "-A", "worker.celery_app:celery_app", "beat",
                          "--loglevel", "INFO", "--schedule", str(self.workdir / f"{name}-schedule"))

    def _start(self, kind: str, *argv: str) -> None:
        self._start_named(kind, self._log_name(kind), *argv)

    def _start_named(self, kind: str, log_name: str, *argv: str) -> None:
        log = self.workdir / f"{log_name}.log"
        handle = log.open("wb")
        process = subprocess.Popen(list(argv), cwd=self.workdir, env=self.procs.env, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.running.append((kind, process, log))

    def restart_web(self) -> None:
        self.start_web()
        self.wait_web()

    def wait_worker_ready(self, timeout: float = 60) -> None:
        """Until the newest worker log says it is ready (Celery prints `ready.`)."""
        log = next(log for name, _, log in reversed(self.procs.running) if name == "worker")
        wait_until(lambda: "ready." in log.read_text(errors="replace"), timeout=timeout,
                   message=f"the worker to be ready\n{self.procs.logs()}")

    def close(self) -> None:
        self.procs.stop_all()
        self.engine.dispose()

    # connections
    def connect(self) -> None:
        specs = {
            "square-xtarly": ("square", "xtarly", f"{self.core}/xtarly", "xtarly_pos_demo", ["--signing-key", SQUARE_KEY]),
            "square-cockato": ("square", "cockato", f"{self.core}/cockato/pos-transaction", "cockato_demo",
                               ["--signing-key", SQUARE_KEY]),
            "generic-xtarly": ("generic", "xtarly", f"{self.core}/xtarly", "xtarly_pos_tiers", ["--currency", "AUD"]),
        }

        def add(item):
            name, (vendor, target, url, key, extra) = item
            return name, self.procs.cli_json("connections", "add", "--vendor", vendor, "--name", f"Faults {name}",
                                             "--target", target, "--target-url", url, "--target-key", key, *extra)

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            for name, made in pool.map(add, specs.items()):
                made["target"] = specs[name][1]
                made.setdefault("signing_key", SQUARE_KEY)
                self.connections[name] = made

    def add_connection(self, name: str, *argv: str) -> dict:
        made = self.procs.cli_json("connections", "add", "--name", f"Faults {name}", *argv)
        self.connections[name] = made
        return made

    # the core
    def ledger(self) -> list[dict]:
        return httpx.get(f"{self.core}/_sandbox/ledger", timeout=10).json()

    def core_requests(self) -> dict:
        return httpx.get(f"{self.core}/_sandbox/requests", timeout=10).json()

    def fault(self, **spec) -> None:
        r = httpx.post(f"{self.core}/_sandbox/faults", json=spec, timeout=10)
        assert r.status_code == 201, r.text

    def clear_faults(self) -> None:
        httpx.delete(f"{self.core}/_sandbox/faults", timeout=10).raise_for_status()

    def pending_faults(self) -> list:
        return httpx.get(f"{self.core}/_sandbox/faults", timeout=10).json()

    # the store, read directly (cheap enough to poll; the final check uses the CLI)
    def sql(self, query: str, **params):
        with self.engine.connect() as connection:
            return connection.execute(text(query), params).all()

    def statuses(self) -> tuple[dict, dict]:
        events = dict(self.sql("select status, count(*) from events group by status"))
        transactions = dict(self.sql("select status, count(*) from transactions group by status"))
        return events, transactions

    def settle(self, expected_events: int, timeout: float = 150, quiet: float = 2.0,
               allow_paused: bool = True) -> float:
        """Until every stored event and transaction is settled (nothing received or
        pending) and the ledger has not moved for `quiet` seconds. Returns seconds waited."""
        timeout += 0.15 * N  # the full-size run has more to do
        started = time.monotonic()
        deadline = started + timeout
        last, stable_since = None, None
        while time.monotonic() < deadline:
            try:
                events, transactions = self.statuses()
                ledger_size = len(self.ledger())
            except Exception:  # noqa: BLE001 - a server mid-restart
                time.sleep(0.5)
                continue
            busy = (sum(events.values()) < expected_events
                    or any(s not in SETTLED for s in events) or any(s not in SETTLED for s in transactions)
                    or (not allow_paused and ("paused" in events or "paused" in transactions)))
            state = (tuple(sorted(events.items())), tuple(sorted(transactions.items())), ledger_size)
            if busy or state != last:
                last, stable_since = state, time.monotonic()
            elif time.monotonic() - stable_since >= quiet:
                return time.monotonic() - started
            time.sleep(0.5)
        raise AssertionError(f"not settled after {timeout}s: events {events}, transactions {transactions}\n"
                             f"{self.procs.logs()}")

    def events(self) -> list[dict]:
        """`bridge events list --json`, every page."""
        rows, cursor = [], None
        while True:
            args = ["events", "list", "--json", "--limit", "1000"] + (["--cursor", cursor] if cursor else [])
            result = self.procs.cli(*args)
            rows += json.loads(result.stdout)
            marker = "--cursor "
            cursor = result.stderr.split(marker, 1)[1].split()[0] if marker in result.stderr else None
            if not cursor:
                return rows


# ---------------------------------------------------------------- sales


@dataclass
class Sale:
    connection: dict
    vendor: str
    source_id: str
    event_id: str
    body: bytes
    headers: dict
    accepted: bool = False
    statuses: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.connection["webhook_url"]

    @property
    def key(self) -> str:
        return idempotency_key(self.connection["id"], self.vendor, self.source_id, "sale")


def square_event(payment_id: str, email: str | None, *, fixture: str = "payment.updated.completed",
                 amount: int = 1999, version: int | None = None, status: str | None = None,
                 event_id: str | None = None) -> dict:
    event = json.loads((FIXTURES / f"{fixture}.json").read_text())
    event["event_id"] = event_id or str(uuid.uuid4())
    event["data"]["id"] = payment_id
    payment = event["data"]["object"]["payment"]
    payment["id"] = payment_id
    payment["order_id"] = f"ord_{payment_id}"
    payment["receipt_url"] = f"https://squareup.com/receipt/preview/{payment_id}"
    payment["amount_money"]["amount"] = amount
    if "total_money" in payment:
        payment["total_money"]["amount"] = amount
    payment.pop("customer_id", None)
    if email:
        payment["buyer_email_address"] = email
    else:
        payment.pop("buyer_email_address", None)
    if version is not None:
        payment["version"] = version
    if status is not None:
        payment["status"] = status
    return event


def sign_square(connection: dict, event: dict) -> tuple[bytes, dict]:
    body = json.dumps(event).encode()
    return body, registry.get("square").sign(body, connection["webhook_url"], SQUARE_KEY)


def square_sale(connection: dict, tag: str, i: int, **kw) -> Sale:
    payment_id = f"FLT{tag}{i:06d}{uuid.uuid4().hex[:10]}"
    event = square_event(payment_id, CUSTOMERS[i % 2], amount=500 + (i % 40) * 37, **kw)
    body, headers = sign_square(connection, event)
    return Sale(connection, "square", payment_id, event["event_id"], body, headers)


def generic_sale(connection: dict, tag: str, i: int, signed_at: int | None = None) -> Sale:
    reference = f"G-{tag}-{i:06d}-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"reference": reference, "amount": f"{5 + i % 30}.50", "currency": "AUD",
                       "email": CUSTOMERS[i % 2]}).encode()
    if signed_at is None:
        headers = registry.get("generic").sign(body, connection["webhook_url"], connection["signing_key"])
        event_id = reference
    else:
        event_id = f"msg_{uuid.uuid4().hex[:24]}"
        headers = {"Content-Type": "application/json",
                   **generic_auth.standard_webhooks_headers(body, connection["signing_key"], event_id, signed_at)}
    return Sale(connection, "generic", reference, event_id, body, headers)


def make_sales(stack: Stack, n: int, tag: str) -> list[Sale]:
    """n unique sales: half Square→Xtarly, a quarter Square→Cockato, a quarter generic→Xtarly."""
    sales = []
    for i in range(n):
        slot = i % 4
        if slot in (0, 2):
            sales.append(square_sale(stack.connections["square-xtarly"], tag, i))
        elif slot == 1:
            sales.append(square_sale(stack.connections["square-cockato"], tag, i))
        else:
            sales.append(generic_sale(stack.connections["generic-xtarly"], tag, i))
    return sales


# ---------------------------------------------------------------- the sender (a vendor)


class Sender:
    """Posts like a vendor: a 503, a 5xx or a dropped connection is retried after a
    short pause until the bridge answers 2xx (or a 4xx, which is final)."""

    def __init__(self, threads: int = 8, give_up_after: float = 120.0) -> None:
        self.threads, self.give_up_after = threads, give_up_after
        self.lock = threading.Lock()
        self.answers: Counter = Counter()       # every HTTP status seen
        self.transport_errors: Counter = Counter()
        self.slowest = 0.0                      # seconds, one request
        self.client = httpx.Client(timeout=httpx.Timeout(20.0, connect=5.0),
                                   limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))

    def post(self, sale: Sale) -> int | None:
        deadline = time.monotonic() + self.give_up_after
        while True:
            started = time.monotonic()
            try:
                status = self.client.post(sale.url, content=sale.body, headers=sale.headers).status_code
            except httpx.TransportError as error:
                status = None
                with self.lock:
                    self.transport_errors[type(error).__name__] += 1
            else:
                with self.lock:
                    self.answers[status] += 1
                    self.slowest = max(self.slowest, time.monotonic() - started)
                sale.statuses.append(status)
                if status in (200, 202):
                    sale.accepted = True
                    return status
                if status < 500:
                    return status  # a 4xx is the bridge refusing the sale: final
            if time.monotonic() > deadline:
                return status
            time.sleep(0.3)

    def send(self, sales: list[Sale], pace: float = 0.0) -> list:
        """Post every sale from a pool of threads; `pace` seconds between submissions."""
        with concurrent.futures.ThreadPoolExecutor(self.threads) as pool:
            futures = []
            for sale in sales:
                futures.append(pool.submit(self.post, sale))
                if pace:
                    time.sleep(pace)
            return [f.result() for f in futures]

    def send_in_background(self, sales: list[Sale], pace: float = 0.0) -> concurrent.futures.Future:
        runner = concurrent.futures.ThreadPoolExecutor(1)
        future = runner.submit(self.send, sales, pace)
        runner.shutdown(wait=False)
        return future

    def summary(self) -> str:
        answers = ", ".join(f"{status}×{count}" for status, count in sorted(self.answers.items()))
        errors = ", ".join(f"{name}×{count}" for name, count in sorted(self.transport_errors.items()))
        return (f"answers {answers or '-'}; transport errors {errors or '0'}; "
                f"slowest answer {self.slowest:.1f}s")

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------- the accounting


@dataclass
class Report:
    name: str
    sent: int
    awarded: int
    duplicates: int
    lost: int
    failed_visible: int
    phantom: int
    stuck: list
    lost_detail: list
    duplicate_detail: list
    inconsistent: list
    events: list
    ledger: list

    @property
    def line(self) -> str:
        return (f"{self.name}: sent {self.sent}, awarded {self.awarded}, duplicates {self.duplicates}, "
                f"lost {self.lost}, failed-visible {self.failed_visible}")

    def check(self, failed_visible: int | None = 0) -> None:
        problems = []
        if self.duplicates:
            problems.append(f"{self.duplicates} duplicate award(s): {self.duplicate_detail[:5]}")
        if self.phantom:
            problems.append(f"{self.phantom} ledger entr(y/ies) for no sale we sent")
        if self.lost:
            problems.append(f"{self.lost} lost sale(s): {self.lost_detail[:5]}")
        if self.stuck:
            problems.append(f"{len(self.stuck)} event(s) stuck without a settled state: {self.stuck[:5]}")
        if self.inconsistent:
            problems.append(f"{len(self.inconsistent)} event(s) whose status contradicts the ledger: "
                            f"{self.inconsistent[:5]}")
        if failed_visible is not None and self.failed_visible != failed_visible:
            problems.append(f"failed-visible {self.failed_visible}, expected {failed_visible}")
        if self.awarded + self.failed_visible + self.lost != self.sent:
            problems.append("awarded + failed-visible + lost != sent")
        assert not problems, f"{self.line}\n" + "\n".join(problems)


def account(stack: Stack, name: str, sales: list[Sale], *, extra_ok_statuses=("skipped",)) -> Report:
    """Ledger and events against what was sent; prints the scenario's line."""
    ledger = stack.ledger()
    events = stack.events()
    accepted = [s for s in sales if s.accepted]
    keys = {s.key: s for s in accepted}
    assert len(keys) == len(accepted), "two sales share an idempotency key (a test bug)"
    by_key = Counter(entry.get("idempotency_key") for entry in ledger)
    duplicates = sum(count - 1 for count in by_key.values() if count > 1)
    duplicate_detail = [(key, count, keys[key].source_id if key in keys else None)
                        for key, count in by_key.items() if count > 1]
    phantom = sum(count for key, count in by_key.items() if key not in keys)
    by_event = {(e["connection_id"], e["vendor_event_id"]): e for e in events}
    awarded = failed_visible = lost = 0
    lost_detail, inconsistent = [], []
    for sale in accepted:
        event = by_event.get((sale.connection["id"], sale.event_id))
        if sale.key in by_key:
            awarded += 1
            if event is not None and event["status"] not in ("delivered", *extra_ok_statuses):
                inconsistent.append((event["id"], event["status"], event["reason"]))
        elif event is not None and event["status"] in VISIBLE and event["reason"]:
            failed_visible += 1
        else:
            lost += 1
            lost_detail.append((sale.vendor, sale.source_id,
                                (event["id"], event["status"], event["reason"]) if event else "no event stored"))
    stuck = [(e["id"], e["status"], e["reason"]) for e in events if e["status"] not in SETTLED]
    report = Report(name, len(accepted), awarded, duplicates, lost, failed_visible, phantom, stuck,
                    lost_detail, duplicate_detail, inconsistent, events, ledger)
    print(f"\n{report.line}", flush=True)
    return report
