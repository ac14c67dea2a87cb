"""Delivery benchmark: Celery workers drain a backlog of stored Square sales
into the sandbox loyalty core running as its own process.

    python bench/deliver.py                 # ~5 minutes on a quiet 2-core machine
    python bench/deliver.py --quick         # ~1.5 minutes
    python bench/deliver.py --count 20000   # a bigger backlog (much longer)

Per run (concurrency C, with or without the core adding latency):

1. reset the sandbox (POST /_sandbox/reset); for the latency variant queue
   POST /_sandbox/faults {"api": "*", "delay": D, "count": N}: every one of the
   next N API requests sleeps D seconds before it is answered;
2. build the backlog with no worker running: N distinct signed
   payment.updated.completed requests stored with bridge.inbox.store_event
   (the web's own write) and N `bridge.process_event` wake-ups sent to Redis
   by task name, as the web's CeleryDispatcher sends them. Beat is NOT run:
   store_event marks rows enqueued-now, so the sweeper would skip them for
   BRIDGE_REQUEUE_AFTER (30 s) and then wake at most 500 per sweep; the
   explicit wake-ups are what a web process leaves behind;
3. start `celery -A worker.celery_app:celery_app worker --concurrency C`
   and poll GET /_sandbox/requests until N transactions answered 200; then
   check GET /_sandbox/ledger has exactly N awards with N distinct keys.
   deliveries/s = N / (N-th 200 answer - first event claimed by a worker),
   so worker boot is excluded (it is in "wall s");
4. CEILING: reset (and re-queue the fault), then C threads, each with its
   own httpx.Client (a worker process has one), post the same N transactions
   (rebuilt from the stored rows the bridge's way: _delivery_of + the Xtarly
   client's build) with fresh Idempotency-Keys straight to the same sandbox.
   bridge/ceiling is the share of the core's own speed the bridge's workers
   reach.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (CpuMeter, add_connection, announce, free_port, processes, quiet_check, services, signed_requests,
                     stop, table, tool, wait_quiet, workdir)

import httpx  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small backlogs (~1.5 minutes in all)")
    p.add_argument("--count", type=int, default=None, help="backlog size, no added latency (default 2000; --quick 200)")
    p.add_argument("--delay", type=float, default=0.05, help="seconds the core adds per request in the latency variant")
    p.add_argument("--delay-count", type=int, default=None,
                   help="backlog size for the latency variant (default min(count, 200); --quick 60); 0 skips it")
    p.add_argument("--concurrency", default="1,2", help="Celery --concurrency values (default 1,2)")
    p.add_argument("--threaded", default="2x16",
                   help="I/O-concurrent set-ups, PxT: P worker processes each `--pool threads --concurrency T` "
                        "(default 2x16; '' skips them)")
    p.add_argument("--loglevel", default="INFO", help="worker --loglevel (Procfile: INFO)")
    p.add_argument("--beat", action="store_true",
                   help="also run `celery beat` (the sweeper) beside the worker; default: explicit wake-ups only")
    p.add_argument("--database-url", default=None, help="use this PostgreSQL instead of a throwaway one")
    p.add_argument("--redis-url", default=None, help="use this Redis instead of a throwaway one (it is not flushed)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="before each measurement wait up to SECONDS for other processes to use <10%% CPU "
                        "(for shared machines; default 0: no wait)")
    p.add_argument("--retry-noisy", type=int, default=0, metavar="N",
                   help="run a measurement again (up to N times, keeping the quietest) when other processes "
                        "used >10%% CPU during it (default 0)")
    p.add_argument("--keep-logs", action="store_true", help="keep the process logs (path printed at the end)")
    args = p.parse_args(argv)
    if args.count is None:
        args.count = 200 if args.quick else 2000
    if args.delay_count is None:
        args.delay_count = 60 if args.quick else min(args.count, 200)
    args.setups = [(int(x), 0) for x in args.concurrency.split(",") if x.strip()]
    args.setups += [tuple(int(n) for n in x.lower().split("x")) for x in args.threaded.split(",") if x.strip()]
    return args


def setup_label(setup: tuple[int, int]) -> str:
    processes, threads = setup
    return f"{processes}x{threads} threads" if threads else f"C={processes}"


def start_workers(procs, app: str, name: str, setup: tuple[int, int], loglevel: str) -> list[str]:
    """Prefork: one `celery worker --concurrency P`; threads: P workers of T threads each."""
    processes, threads = setup
    common = [tool("celery"), "-A", app, "worker", "--loglevel", loglevel]
    if not threads:
        procs.start(name, *common, "--concurrency", str(processes), "-n", f"{name}@%h")
        return [name]
    names = [f"{name}-{n}" for n in range(processes)]
    for each in names:
        procs.start(each, *common, "--pool", "threads", "--concurrency", str(threads), "-n", f"{each}@%h")
    return names


METER = CpuMeter()
NOISY = 10.0  # % of all cores used by other processes above which a run is retried (--retry-noisy)


class Sandbox:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30)

    def reset(self, delay: float, count: int) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()
        if delay:
            self.http.post("/_sandbox/faults", json={"api": "*", "delay": delay, "count": count}).raise_for_status()

    def answered(self) -> dict[str, int]:
        counts = self.http.get("/_sandbox/requests").json()["by_api"].get("xtarly", {})
        return counts.get("by_status", {})

    def ledger(self) -> list[dict]:
        return self.http.get("/_sandbox/ledger").json()

    def pending_faults(self) -> list[dict]:
        return self.http.get("/_sandbox/faults").json()


def build_backlog(db, broker, connection: dict, count: int) -> tuple[float, list[int]]:
    """Store `count` signed sales as the web would, and send their wake-ups."""
    from bridge.contract import InboundRequest
    from bridge.inbox import store_event

    started = time.perf_counter()
    url = connection["webhook_url"]
    ids = []
    for body, headers in signed_requests(count, url):
        inbound = InboundRequest(body=body, headers={k.lower(): v for k, v in headers.items()}, url=url,
                                 content_type=headers["Content-Type"], remote_addr="127.0.0.1")
        event_id = __import__("json").loads(body)["event_id"]
        stored = store_event(db, connection_id=connection["id"], vendor="square", vendor_event_id=event_id,
                             request=inbound)
        assert stored.created
        ids.append(stored.event_id)
    with broker.producer_or_acquire() as producer:
        for event_id in ids:
            broker.send_task("bridge.process_event", args=[event_id], producer=producer)
    return time.perf_counter() - started, ids


def first_claimed(db, event_ids: list[int]) -> bool:
    """Has a worker claimed one of the first events of the backlog (its first task)?"""
    from sqlalchemy import func, select

    from bridge.store.tables import EventRow

    with db.session() as session:
        return bool(session.scalar(select(func.count()).select_from(EventRow).where(
            EventRow.id.in_(event_ids), EventRow.attempts > 0)))


def tasks_received(log: Path) -> dict[str, int]:
    """Tasks the worker took from Redis, by name (its INFO lines "Task <name>[id] received")."""
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if "] received" in line and "Task " in line:
            task = line.split("Task ", 1)[1].split("[", 1)[0]
            counts[task] = counts.get(task, 0) + 1
    return counts


def run_bridge(procs, sandbox: Sandbox, db, event_ids: list[int], setup: tuple[int, int], count: int,
               loglevel: str, name: str, beat: bool) -> dict:
    timeout = 60 + count / 5  # generous: the slowest plausible run is ~10/s
    before = None
    spawned = time.perf_counter()
    names = start_workers(procs, "worker.celery_app:celery_app", name, setup, loglevel)
    if beat:
        procs.start(f"beat-{name}", tool("celery"), "-A", "worker.celery_app:celery_app", "beat",
                    "--loglevel", loglevel, "--schedule", str(procs.workdir / f"beat-{name}-schedule"))
    started = done = None
    try:
        # The clock starts when a worker claims the first event of the backlog
        # (worker boot, ~2-3 s with mingle, is reported in `wall` only).
        while started is None and time.perf_counter() - spawned < timeout:
            if first_claimed(db, event_ids[:setup[0]]):
                started, before = time.perf_counter(), METER.snapshot()
                break
            procs._check_alive()
            time.sleep(0.02)
        while started is not None and time.perf_counter() - spawned < timeout:
            if sandbox.answered().get("200", 0) >= count:
                done, after = time.perf_counter(), METER.snapshot()
                break
            procs._check_alive()
            time.sleep(0.1)
        if done is None:
            raise SystemExit(f"{name}: only {sandbox.answered()} after {timeout:.0f}s\n{procs.logs()}")
    finally:
        stop(procs, f"beat-{name}")
        for each in names:
            stop(procs, each)
    tasks: dict[str, int] = {}
    for each in names:
        for task, n in tasks_received(procs.workdir / f"{each}.log").items():
            tasks[task] = tasks.get(task, 0) + n
    ledger = sandbox.ledger()
    keys = {entry["idempotency_key"] for entry in ledger}
    statuses = sandbox.answered()
    if len(ledger) != count or len(keys) != count:
        raise SystemExit(f"{name}: ledger has {len(ledger)} awards, {len(keys)} distinct keys; expected {count}")
    extra = sum(n for s, n in statuses.items() if s != "200")
    wakeups = sum(n for task, n in tasks.items() if task != "bridge.sweep")
    per_sale = wakeups / count if tasks else float("nan")  # nan: worker not logging at INFO
    return {"rate": count / (done - started), "wall": done - spawned, "boot": started - spawned, "non200": extra,
            "other": METER.foreign(before, after), "tasks": tasks, "per_sale": per_sale}


def run_celery_ceiling(procs, sandbox: Sandbox, db, broker, requests: list, setup: tuple[int, int],
                       loglevel: str, name: str) -> dict:
    """The issue's CEILING: Celery tasks of one POST and one UPDATE (bench/ceiling_worker.py),
    same worker set-up; clocked from the core's first answer to its N-th."""
    from bench.ceiling_worker import prepare

    count = len(requests)
    prepare(db.engine, count)
    with broker.producer_or_acquire() as producer:
        for row_id, request in enumerate(requests, start=1):
            broker.send_task("ceiling.deliver", producer=producer,
                             args=[row_id, request.method, request.url, dict(request.headers), request.json])
    timeout = 60 + count / 5
    spawned = time.perf_counter()
    names = start_workers(procs, "bench.ceiling_worker:celery_app", name, setup, loglevel)
    started = done = before = None
    try:
        while time.perf_counter() - spawned < timeout:
            answered = sum(sandbox.answered().values())
            if started is None and answered:
                started, before = time.perf_counter(), METER.snapshot()
            if answered >= count:
                done, after = time.perf_counter(), METER.snapshot()
                break
            procs._check_alive()
            time.sleep(0.02 if started is None else 0.1)
        if done is None:
            raise SystemExit(f"{name}: only {sandbox.answered()} after {timeout:.0f}s\n{procs.logs()}")
    finally:
        for each in names:
            stop(procs, each)
    return {"rate": count / (done - started), "wall": done - spawned,
            "non200": count - sandbox.answered().get("200", 0), "other": METER.foreign(before, after)}


def ceiling_requests(db, connection: dict, count: int) -> list:
    """The requests the bridge just made, rebuilt the bridge's way from the newest
    `count` stored transactions (this run's), each with a fresh Idempotency-Key."""
    import dataclasses

    from sqlalchemy import select

    from bridge.clients import client_for
    from bridge.delivery import _delivery_of
    from bridge.store.tables import TransactionRow

    client = client_for("xtarly")
    with db.session() as session:
        rows = session.scalars(select(TransactionRow).where(TransactionRow.connection_id == connection["id"])
                               .order_by(TransactionRow.id.desc()).limit(count)).all()
        deliveries = [_delivery_of(row) for row in rows]
    if len(deliveries) != count:
        raise SystemExit(f"expected {count} stored transactions, found {len(deliveries)}")
    return [client.build(dataclasses.replace(d, idempotency_key=uuid.uuid4().hex), connection["target_url"],
                         "xtarly_pos_demo") for d in reversed(deliveries)]


def quietest(measure, retries: int, purge=None) -> dict:
    """Measure; again (up to `retries` times) while other processes were busy; the quietest run."""
    best = None
    for attempt in range(1 + retries):
        result = measure(attempt)
        if purge is not None:  # wake-ups left over (duplicates) must not feed the next run
            purge.control.purge()
        if best is None or result["other"] < best["other"]:
            best = result
        if not result["other"] > NOISY:
            break
        if attempt < retries:
            print(f"    noisy (other CPU {result['other']:.0f}% > {NOISY:.0f}%): again", flush=True)
    return best


def run_ceiling(sandbox: Sandbox, requests: list, concurrency: int) -> dict:
    count = len(requests)
    local = threading.local()
    statuses: dict[int, int] = {}
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def post(request):
        http = getattr(local, "http", None)
        if http is None:
            http = local.http = httpx.Client(timeout=10, follow_redirects=False)  # as bridge.delivery makes it
            with lock:
                clients.append(http)
        response = http.request(request.method, request.url, headers=request.headers, json=request.json, timeout=10)
        response.json()
        with lock:
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    pool = concurrent.futures.ThreadPoolExecutor(concurrency)
    try:
        before = METER.snapshot()
        started = time.perf_counter()
        list(pool.map(post, requests))
        wall = time.perf_counter() - started
        other = METER.foreign(before, METER.snapshot())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for http in clients:
        http.close()
    return {"rate": count / wall, "wall": wall, "non200": count - statuses.get(200, 0), "other": other}


def measure(args, stack: ExitStack, pg_url: str, redis_url: str, own_redis: bool) -> tuple[list, list[dict]]:
    """Every variant × set-up: the bridge, the Celery ceiling and the bare loop. Returns
    (table rows, results); bench/run.py calls it too."""
    variants = [("no added latency", 0.0, args.count)]
    if args.delay and args.delay_count:
        variants.append((f"core +{args.delay * 1000:.0f} ms", args.delay, args.delay_count))
    rows, results = [], []
    path = workdir(stack, "bench-deliver-", args.keep_logs)
    core_port = free_port()
    core = f"http://127.0.0.1:{core_port}"
    procs = processes(stack, path, {
        "DATABASE_URL": pg_url, "REDIS_URL": redis_url, "BRIDGE_ALLOW_PRIVATE_TARGETS": "1",
        "BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{free_port()}", "BRIDGE_VAR_DIR": str(path)})
    procs.start("sandbox", tool("gunicorn"), "--workers", "1", "--threads", "16",
                "--bind", f"127.0.0.1:{core_port}", "bridge.sandbox.wsgi:app")
    procs.wait_http(f"{core}/_sandbox/ledger")
    connection = add_connection(procs, f"{core}/xtarly")
    sandbox = Sandbox(core)

    from celery import Celery

    from bridge.store import Database

    db = Database(pg_url)
    stack.callback(db.dispose)
    broker = Celery("bench-backlog", broker=redis_url)
    broker.conf.broker_connection_retry_on_startup = True
    print(f"sandbox core {core}; connection {connection['id']} -> {connection['target_url']}", flush=True)
    for label, delay, count in variants:
        for setup in args.setups:
            tag = f"{setup[0]}x{setup[1]}-{int(delay * 1000)}ms"

            def bridge_run(attempt):
                sandbox.reset(delay, count)
                built, event_ids = build_backlog(db, broker, connection, count)
                print(f"  [{label}, {setup_label(setup)}] backlog of {count} stored and enqueued in "
                      f"{built:.1f}s", flush=True)
                wait_quiet(args.wait_quiet)
                result = run_bridge(procs, sandbox, db, event_ids, setup, count, args.loglevel,
                                    f"worker-{tag}-{attempt}", args.beat)
                if delay and (left := sandbox.pending_faults()):
                    print(f"    note: faults left after the bridge run: {left}")
                print(f"    bridge  {result['rate']:7.1f}/s (wall {result['wall']:.1f}s from worker spawn, "
                      f"boot {result['boot']:.1f}s, non-200 {result['non200']}, "
                      f"other CPU {result['other']:.0f}%, tasks {result['tasks']})", flush=True)
                return result

            def celery_ceiling_run(attempt):
                sandbox.reset(delay, count)
                wait_quiet(args.wait_quiet)
                result = run_celery_ceiling(procs, sandbox, db, broker, requests, setup, args.loglevel,
                                            f"ceiling-{tag}-{attempt}")
                print(f"    celery ceiling {result['rate']:7.1f}/s (wall {result['wall']:.1f}s, "
                      f"non-200 {result['non200']}, other CPU {result['other']:.0f}%)", flush=True)
                return result

            def loop_ceiling_run(attempt):
                sandbox.reset(delay, count)
                wait_quiet(args.wait_quiet)
                result = run_ceiling(sandbox, requests, setup[0] * max(1, setup[1]))
                print(f"    httpx loop {result['rate']:7.1f}/s (wall {result['wall']:.1f}s, "
                      f"non-200 {result['non200']}, other CPU {result['other']:.0f}%)", flush=True)
                return result

            bridge = quietest(bridge_run, args.retry_noisy, purge=broker if own_redis else None)
            requests = ceiling_requests(db, connection, count)  # before the clock
            ceiling = quietest(celery_ceiling_run, args.retry_noisy, purge=broker if own_redis else None)
            loop = quietest(loop_ceiling_run, args.retry_noisy)
            ratio = bridge["rate"] / ceiling["rate"]
            print(f"    ratio {ratio:.2f} (to the bare loop {bridge['rate'] / loop['rate']:.2f})", flush=True)
            rows.append([label, setup_label(setup), count, bridge["rate"], bridge["wall"], bridge["per_sale"],
                         bridge["non200"], ceiling["rate"], f"{ratio:.2f}", loop["rate"],
                         f"{bridge['rate'] / loop['rate']:.2f}",
                         f"{bridge['other']:.0f}/{ceiling['other']:.0f}/{loop['other']:.0f}"])
            results.append({"variant": label, "setup": setup, "count": count, "bridge": bridge,
                            "ceiling": ceiling, "loop": loop})
            sandbox.reset(0, 0)
    return rows, results


def main(argv=None) -> int:
    args = parse_args(argv)
    announce("deliver.py", argv)
    try:
        with ExitStack() as stack:
            pg_url, redis_url = services(stack, args.database_url, args.redis_url)
            rows, _ = measure(args, stack, pg_url, redis_url, own_redis=not args.redis_url)
    except KeyboardInterrupt:
        print("\ninterrupted: everything started by this script has been stopped", file=sys.stderr)
        return 130
    print(quiet_check("after the run"))
    print()
    print(table(["variant", "workers", "N", "deliveries/s", "wall s", "tasks/sale", "non-200", "CEIL tasks/s",
                 "bridge/ceil", "loop req/s", "bridge/loop", "other CPU %"], rows,
                title="deliver: Celery workers vs CEILING (Celery tasks of one POST + one UPDATE, same workers) "
                      "and a bare httpx loop"))
    print("\ndeliveries/s = N / (N-th award - first event claimed); wall s adds worker start-up; "
          "tasks/sale = Celery tasks the workers received per sale (1.0 = one process_event that also delivers). "
          "Workers, sandbox core, PostgreSQL, Redis and this script share the machine's cores.\n"
          "other CPU % = share of all cores used by processes this script did not start, during the "
          "bridge / Celery ceiling / loop runs: above a few %, re-run on a quieter machine.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
