"""Shared plumbing for the benchmark scripts: throwaway servers, processes,
signed Square requests, latency statistics and table printing.

Not a test helper: nothing here asserts a speed. Run the scripts from the
repo root (`python bench/ingest.py`); this module puts the root on sys.path
so `tests.services` and `tests.e2e.processes` can be reused.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.processes import Processes, tool  # noqa: E402
from tests.services import PostgresServer, RedisServer, _pg_answers, _redis_answers, free_port  # noqa: E402

FIXTURE = ROOT / "connectors" / "square" / "fixtures" / "payment.updated.completed.json"
SIGNING_KEY = "bench-signature-key"


# ---------------------------------------------------------------- lifecycle


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP behave like Ctrl-C, so every `finally` tears down."""
    def interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    # Ctrl-C too when started with SIGINT ignored (a background job of a script, nohup).
    signal.signal(signal.SIGINT, signal.default_int_handler)


def start_server(server_class, what: str):
    """Start a tests.services server, retrying on a fresh port if ours got taken."""
    error = None
    for _ in range(3):
        server = server_class()
        try:
            server.start()
            return server
        except Exception as exc:  # noqa: BLE001
            error = exc
            log_tail = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
            server.stop()
            if "Address already in use" not in log_tail:
                break
    raise SystemExit(f"could not start a throwaway {what} server: {error}")


def services(stack: ExitStack, database_url: str | None, redis_url: str | None,
             need_redis: bool = True) -> tuple[str, str | None]:
    """PostgreSQL (and Redis) URLs: the given ones, checked, or fresh throwaway
    servers whose stop is registered on `stack`."""
    if database_url:
        if (error := _pg_answers(database_url)) is not None:
            raise SystemExit(f"--database-url {database_url} does not answer: {error}")
    else:
        print("starting a throwaway PostgreSQL ...", flush=True)
        pg = start_server(PostgresServer, "PostgreSQL")
        stack.callback(pg.stop)
        database_url = pg.url
        if (pid := pg._postmaster_pid()) is not None:
            OWN_ROOTS.append(pid)  # pg_ctl daemonizes it: not our child, but ours
        print(f"  PostgreSQL {database_url} (data in {pg.data})", flush=True)
    if need_redis:
        if redis_url:
            if (error := _redis_answers(redis_url)) is not None:
                raise SystemExit(f"--redis-url {redis_url} does not answer: {error}")
        else:
            print("starting a throwaway Redis ...", flush=True)
            redis = start_server(RedisServer, "Redis")
            stack.callback(redis.stop)
            redis_url = redis.url
            print(f"  Redis {redis_url} (pid {redis.proc.pid})", flush=True)
    return database_url, redis_url


def workdir(stack: ExitStack, prefix: str, keep: bool) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if keep:
        stack.callback(lambda: print(f"logs kept in {path}"))
    else:
        stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def processes(stack: ExitStack, path: Path, env: dict[str, str]) -> Processes:
    # The checkout on the path: the ceiling worker is `bench.ceiling_worker`,
    # imported by a Celery process whose working directory is a scratch one.
    path_entries = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    procs = Processes(path, {"PYTHONPATH": os.pathsep.join(filter(None, path_entries)), **env})
    stack.callback(procs.stop_all)
    return procs


def stop(procs: Processes, name: str) -> None:
    """Stop one named process (SIGTERM to its group; SIGKILL if it lingers)."""
    for entry in list(procs.running):
        if entry[0] == name:
            _, process, _ = entry
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except Exception:  # noqa: BLE001 - TimeoutExpired
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
            procs.running.remove(entry)


def add_connection(procs: Processes, target_url: str, target_key: str = "xtarly_pos_demo",
                   vendor: str = "square") -> dict:
    """`bridge db upgrade` then `bridge connections add ... --json`, against procs.env's DATABASE_URL."""
    procs.cli("db", "upgrade")
    # Lightspeed and Toast webhooks carry no currency (and the bench gives no vendor token).
    currency = ["--currency", "USD"] if vendor in ("lightspeed", "toast") else []
    return procs.cli_json("connections", "add", "--vendor", vendor, "--name", f"Bench {uuid.uuid4().hex[:6]}",
                          "--target", "xtarly", "--target-url", target_url, "--target-key", target_key,
                          "--signing-key", SIGNING_KEY, *currency)


# ---------------------------------------------------------------- requests


_TEMPLATE = json.loads(FIXTURE.read_text())


def square_body(seq: int) -> bytes:
    """payment.updated.completed with a new event id and payment id: a distinct sale."""
    event = copy.deepcopy(_TEMPLATE)
    payment_id = f"BENCH{uuid.uuid4().hex[:22]}"
    event["event_id"] = str(uuid.uuid4())
    event["data"]["id"] = payment_id
    payment = event["data"]["object"]["payment"]
    payment["id"] = payment_id
    payment["receipt_number"] = f"B{seq}"
    payment["receipt_url"] = f"https://squareup.com/receipt/preview/{payment_id}"
    return json.dumps(event, indent=2).encode()


VENDORS = ("square", "lightspeed", "toast", "generic")
# A completed sale of each vendor (connectors/<vendor>/fixtures), made distinct below.
SALE_FIXTURES = {"lightspeed": "sale.update.closed", "toast": "order_updated.paid", "generic": "sale.json-amount"}


def sale_body(vendor: str, seq: int) -> bytes:
    """A distinct completed sale as `vendor` puts it on the wire: a new event
    id and sale id each time (Lightspeed's event id is the sale id and version)."""
    from bridge import registry

    if vendor == "square":
        return square_body(seq)
    document = json.loads((ROOT / "connectors" / vendor / "fixtures" / f"{SALE_FIXTURES[vendor]}.json").read_text())
    if vendor == "lightspeed":
        document.update(id=str(uuid.uuid4()), invoice_number=f"B{seq}")
    elif vendor == "toast":
        document["guid"] = str(uuid.uuid4())
        document["details"]["order"]["guid"] = str(uuid.uuid4())
    else:
        document["reference"] = f"B{seq}-{uuid.uuid4().hex[:12]}"
    return registry.get(vendor).fixture_body(json.dumps(document).encode())


def signed_requests(count: int, webhook_url: str, vendor: str = "square") -> list[tuple[bytes, dict[str, str]]]:
    """`count` distinct sales, each signed for `webhook_url` with the connector's own `sign`."""
    from bridge import registry

    connector = registry.get(vendor)
    out = []
    for seq in range(count):
        body = sale_body(vendor, seq)
        out.append((body, connector.sign(body, webhook_url, SIGNING_KEY)))
    return out


# ---------------------------------------------------------------- numbers


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all cores busy over `seconds` (from /proc/stat; nan elsewhere)."""
    def sample():
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return float("nan")
    return 100.0 * (1 - (idle1 - idle0) / max(1, total1 - total0))


OWN_ROOTS: list[int] = []  # besides this process: servers we started that are not our children


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, utime+stime+cutime+cstime in clock ticks) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    return table


class CpuMeter:
    """How much CPU went to processes that are *not* this benchmark's (other
    people's tests, builds...) between two snapshots, as % of all cores.

    Ours = this process, its descendants, and OWN_ROOTS (the throwaway
    PostgreSQL) with theirs. A --database-url server counts as foreign.
    """

    def snapshot(self):
        try:
            with open("/proc/stat") as stat:
                values = [int(v) for v in stat.readline().split()[1:]]
            procs = _proc_table()
        except OSError:
            return None
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        own, todo = {}, [os.getpid(), *OWN_ROOTS]
        while todo:
            pid = todo.pop()
            if pid in procs and pid not in own:
                own[pid] = procs[pid][1]
                todo.extend(children.get(pid, ()))
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values), idle, own

    @staticmethod
    def foreign(start, end) -> float:
        if start is None or end is None:
            return float("nan")
        total = end[0] - start[0]
        busy = total - (end[1] - start[1])
        own = sum(ticks - start[2].get(pid, 0) for pid, ticks in end[2].items())
        return max(0.0, 100.0 * (busy - own) / max(1, total))


def wait_quiet(max_seconds: float, threshold: float = 10.0, window: float = 2.0) -> None:
    """Wait (at most `max_seconds`) until processes that are not ours use less than
    `threshold` % of the cores over `window` seconds. 0 disables the wait."""
    if max_seconds <= 0:
        return
    meter, deadline, waited = CpuMeter(), time.monotonic() + max_seconds, False
    while True:
        start = meter.snapshot()
        time.sleep(window)
        other = meter.foreign(start, meter.snapshot())
        if other < threshold or math.isnan(other):
            if waited:
                print(f"    (machine quiet again: other CPU {other:.0f}%)", flush=True)
            return
        if time.monotonic() > deadline:
            print(f"    (gave up waiting for a quiet machine: other CPU {other:.0f}%)", flush=True)
            return
        if not waited:
            print(f"    (waiting up to {max_seconds:.0f}s: other processes use {other:.0f}% CPU)", flush=True)
            waited = True


def quiet_check(label: str) -> str:
    """One line saying how busy the machine is with work that is not ours yet."""
    busy = cpu_busy()
    warn = "  WARNING: something else is using the CPU; numbers will be noisy" if busy > 15 else ""
    return f"{label}: machine {busy:.0f}% busy over 1 s{warn}"


def announce(script: str, argv: list[str] | None) -> None:
    """What every benchmark prints first: the machine, how busy it is, the
    command that reproduces the run; and Ctrl-C / SIGTERM stop what it starts."""
    install_signal_handlers()
    print(machine_line())
    print(quiet_check("before start"), flush=True)
    print("command: " + " ".join(["python", f"bench/{script}", *(argv if argv is not None else sys.argv[1:])]))


def machine_line() -> str:
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}  nproc={os.cpu_count()}  "
            f"python {platform.python_version()}  {platform.platform()}  "
            f"loadavg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    if title:
        lines.append(title)
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return str(value)


__all__ = ["ROOT", "announce", "Processes", "tool", "free_port", "install_signal_handlers", "services", "workdir",
           "processes", "stop", "add_connection", "signed_requests", "square_body", "percentile",
           "machine_line", "quiet_check", "CpuMeter", "wait_quiet", "cpu_busy", "table", "SIGNING_KEY"]
