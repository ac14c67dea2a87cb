"""Every benchmark in one command, each figure beside its ceiling from the same run.

    python bench/run.py --quick     # a few minutes on a quiet 2-core machine
    python bench/run.py             # bigger samples

Starts a throwaway PostgreSQL and Redis, then, each with its own processes:

1. ingest (bench/ingest.py, production mode): signed Square, Lightspeed
   X-Series, Toast and generic requests at concurrency 8 against
   `gunicorn bridge.wsgi:app` and against the bare commit-the-body app, same
   gunicorn config, alternately;
2. delivery (bench/deliver.py, with beat, which wakes the odd retry): a
   backlog drained by prefork workers (1, 2, 4 processes) and by 2
   thread-pool workers of 16, beside Celery tasks of one POST and one UPDATE
   under the same set-up, and the 50 ms core variant;
3. end to end, production (gunicorn + 2 thread-pool workers + the sandbox
   core as its own process) and embedded (`bridge run`): POS request to the
   core's ledger entry (its own clock), one sale at a time (idle) and a
   stream from 8 threads (load); RSS of the web and worker processes before
   and after the load, and the growth.

Prints one line per figure, `name: value unit (ceiling C, ratio R)`, each
with the CPU share other processes took meanwhile (`other N%`), and ends with

    bench: ingest_ratio=R1 delivery_ratio=R2 e2e_ratio=R3

where R1 is Square's ingest req/s at concurrency 8 over its ceiling, R2 deliveries/s
with 2 prefork processes over the Celery ceiling with 2, and R3 the
production stream's sustained sales/s over the end-to-end ceiling: the two
bare stages (the ingest ceiling and the 2x16 Celery ceiling, both measured
above) in series on the same cores, 1 / (1/ingest + 1/delivery).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import threading
import time
from contextlib import ExitStack
from datetime import datetime

import httpx
from _common import (VENDORS, CpuMeter, add_connection, announce, free_port, percentile, processes, quiet_check,
                     services, signed_requests, tool, workdir)

import deliver
import ingest

METER = CpuMeter()


def figure(name: str, value: float, unit: str, ceiling: float | None = None, other: float | None = None) -> None:
    tail = []
    if ceiling:
        tail.append(f"ceiling {ceiling:.1f}, ratio {value / ceiling:.2f}")
    if other is not None:
        tail.append(f"other {other:.0f}%")
    print(f"{name}: {value:.1f} {unit}" + (f" ({'; '.join(tail)})" if tail else ""), flush=True)


# ---------------------------------------------------------------- end to end


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (gunicorn and Celery fork workers)."""
    total, todo, seen = 0, [pid], set()
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    children.setdefault(int(stat.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except OSError:
                pass
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
        todo.extend(children.get(current, ()))
    return total / 1024


def memory(procs, prefixes: tuple[str, ...]) -> dict[str, float]:
    """MB per kind of process that runs (embedded mode has no separate worker)."""
    out = {}
    for prefix in prefixes:
        pids = [process.pid for name, process, _ in procs.running if name.startswith(prefix)]
        if pids:
            out[prefix] = sum(rss_mb(pid) for pid in pids)
    return out


def fresh_database(pg_url: str, name: str) -> str:
    """A new database on the same server, so one phase's rows never reach the next one's workers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def flush_redis(redis_url: str) -> None:
    """Wake-ups the last phase's web left (its events were never meant to be worked)."""
    import redis

    redis.Redis.from_url(redis_url).flushall()


def e2e_stack(stack: ExitStack, mode: str, pg_url: str, redis_url: str, keep_logs: bool):
    path = workdir(stack, f"bench-e2e-{mode}-", keep_logs)
    web_port = free_port()
    web = f"http://127.0.0.1:{web_port}"
    env = {"BRIDGE_PUBLIC_URL": web, "BRIDGE_ALLOW_PRIVATE_TARGETS": "1", "BRIDGE_VAR_DIR": str(path)}
    if mode == "production":
        env.update({"DATABASE_URL": pg_url, "REDIS_URL": redis_url})
    else:
        env.update({"DATABASE_URL": f"sqlite:///{path / 'bridge.db'}", "REDIS_URL": ""})
    procs = processes(stack, path, env)
    if mode == "production":
        core_port = free_port()
        core = f"http://127.0.0.1:{core_port}"
        procs.start("core", tool("gunicorn"), "--workers", "1", "--threads", "16",
                    "--bind", f"127.0.0.1:{core_port}", "bridge.sandbox.wsgi:app")
        procs.wait_http(f"{core}/_sandbox/ledger")
        connection = add_connection(procs, f"{core}/xtarly")
        procs.start("web", tool("gunicorn"), "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{web_port}",
                    "bridge.wsgi:app")
        deliver.start_workers(procs, "worker.celery_app:celery_app", "worker", (2, 16), "WARNING")
        procs.start("beat", tool("celery"), "-A", "worker.celery_app:celery_app", "beat", "--loglevel", "WARNING",
                    "--schedule", str(path / "beat-schedule"))
    else:
        core = f"{web}/sandbox"
        procs.start("web", tool("bridge"), "run", "--port", str(web_port))
        procs.wait_http(f"{web}/healthz")
        connection = add_connection(procs, f"{core}/xtarly")
    procs.wait_http(f"{web}/healthz")
    return procs, web, core, connection


def ledger_times(core: str) -> dict[str, float]:
    entries = httpx.get(f"{core}/_sandbox/ledger", timeout=30).json()
    return {e["idempotency_key"]: datetime.fromisoformat(e["at"]).timestamp() for e in entries}


def keys_by_payment(procs, connection_id: str) -> dict[str, str]:
    """payment id -> idempotency key, from the bridge's own store (`bridge events show` would do it one by one)."""
    from sqlalchemy import select

    from bridge.store import Database
    from bridge.store.tables import TransactionRow

    db = Database(procs.env["DATABASE_URL"])
    try:
        with db.session() as session:
            rows = session.execute(select(TransactionRow.source_id, TransactionRow.idempotency_key).where(
                TransactionRow.connection_id == connection_id)).all()
    finally:
        db.dispose()
    return dict(rows)


def send_and_trace(web: str, core: str, procs, connection: dict, count: int, concurrency: int,
                   timeout: float) -> dict:
    """Post `count` fresh sales from `concurrency` threads; each sale's latency is its
    ledger entry's time at the core minus the moment its request left."""
    hook = connection["webhook_url"]
    requests = signed_requests(count, hook)
    sent: dict[str, float] = {}
    lock = threading.Lock()
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=60) as client:
        def post(item):
            body, headers = item
            payment = json.loads(body)["data"]["id"]
            started = time.time()
            status = client.post(hook, content=body, headers=headers).status_code
            with lock:
                sent[payment] = started
                statuses[status] = statuses.get(status, 0) + 1

        before = METER.snapshot()
        if concurrency == 1:
            for item in requests:  # idle: the next sale leaves once the previous one is awarded
                awarded = len(ledger_times(core))
                post(item)
                deadline = time.monotonic() + timeout
                while len(ledger_times(core)) == awarded and time.monotonic() < deadline:
                    time.sleep(0.005)
        else:
            with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(post, requests))
    keys = keys_by_payment(procs, connection["id"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arrived = ledger_times(core)
        if all(keys.get(p) in arrived for p in sent):
            break
        time.sleep(0.2)
        keys = keys_by_payment(procs, connection["id"])
    other = METER.foreign(before, METER.snapshot())
    latencies = sorted(arrived[keys[p]] - t for p, t in sent.items() if keys.get(p) in arrived)
    if len(latencies) != count:
        raise SystemExit(f"end to end: {len(latencies)} of {count} sales reached the core; answers {statuses}")
    first, last = min(sent.values()), max(arrived[keys[p]] for p in sent)
    return {"p50": percentile(latencies, 50) * 1000, "p99": percentile(latencies, 99) * 1000,
            "rate": count / (last - first), "other": other}


def end_to_end(stack, mode: str, pg_url: str, redis_url: str, args) -> dict:
    procs, web, core, connection = e2e_stack(stack, mode, pg_url, redis_url, args.keep_logs)
    send_and_trace(web, core, procs, connection, 20, 8, 120)  # warm-up: imports, pools, connections
    idle = send_and_trace(web, core, procs, connection, args.e2e_idle, 1, 30)
    rss_before = memory(procs, ("web", "worker"))
    loaded = send_and_trace(web, core, procs, connection, args.e2e_load, 8, 300)
    rss_after = memory(procs, ("web", "worker"))
    procs.stop_all()
    return {"idle": idle, "load": loaded, "rss_before": rss_before, "rss_after": rss_after}


# ---------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small samples: a few minutes in all")
    p.add_argument("--keep-logs", action="store_true", help="keep every process log (paths printed at the end)")
    args = p.parse_args(argv)
    args.ingest_requests = 300 if args.quick else 1000
    args.delivery_count = 150 if args.quick else 2000
    args.delay_count = 150 if args.quick else 1000
    args.e2e_idle = 20 if args.quick else 100
    args.e2e_load = 150 if args.quick else 2000
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    announce("run.py", argv)
    try:
        with ExitStack() as stack:
            pg_url, redis_url = services(stack, None, None)
            ingest_args = ingest.parse_args(["--levels", "8", "--requests", str(args.ingest_requests),
                                             "--vendors", ",".join(VENDORS),
                                             "--warmup", "50", *(["--keep-logs"] if args.keep_logs else [])])
            print("\n== ingest", flush=True)
            ingested = ingest.bench_mode("postgres", ingest_args, stack, fresh_database(pg_url, "bench_ingest"),
                                         redis_url)
            by_vendor = {(r["vendor"], r["server"]): r for r in ingested}
            bridge_in, ceiling_in = by_vendor[("square", "bridge")], by_vendor[("square", "ceiling")]

            print("\n== delivery", flush=True)
            delivery_args = deliver.parse_args(["--count", str(args.delivery_count), "--delay-count",
                                                str(args.delay_count), "--concurrency", "1,2,4",
                                                "--threaded", "2x16", "--beat",  # beat wakes retries
                                                *(["--keep-logs"] if args.keep_logs else [])])
            flush_redis(redis_url)
            _, delivered = deliver.measure(delivery_args, stack, fresh_database(pg_url, "bench_deliver"), redis_url,
                                           own_redis=True)

            e2e = {}
            for mode in ("production", "embedded"):
                print(f"\n== end to end, {mode}", flush=True)
                flush_redis(redis_url)
                e2e[mode] = end_to_end(stack, mode, fresh_database(pg_url, f"bench_e2e_{mode}"), redis_url, args)
    except KeyboardInterrupt:
        print("\ninterrupted: everything started by this script has been stopped", file=sys.stderr)
        return 130

    print("\n" + quiet_check("after the run"))
    print()
    for vendor in VENDORS:
        bridge_v, ceiling_v = by_vendor[(vendor, "bridge")], by_vendor[(vendor, "ceiling")]
        figure(f"ingest_{vendor}_c8", bridge_v["rps"], "req/s", ceiling_v["rps"], bridge_v["other"])
        figure(f"ingest_{vendor}_c8_p99", bridge_v["p99"], "ms", None, bridge_v["other"])
    delivery_ratio = None
    for result in delivered:
        processes_, threads = result["setup"]
        name = f"delivery_{'50ms_' if result['variant'].startswith('core') else ''}" + (
            f"{processes_}x{threads}threads" if threads else f"prefork{processes_}")
        figure(name, result["bridge"]["rate"], "deliveries/s", result["ceiling"]["rate"], result["bridge"]["other"])
        if result["setup"] == (2, 0) and not result["variant"].startswith("core"):
            delivery_ratio = result["bridge"]["rate"] / result["ceiling"]["rate"]
    threaded_ceiling = next(r["ceiling"]["rate"] for r in delivered
                            if r["setup"] == (2, 16) and not r["variant"].startswith("core"))
    e2e_ceiling = 1 / (1 / ceiling_in["rps"] + 1 / threaded_ceiling)
    for mode, result in e2e.items():
        figure(f"e2e_{mode}_idle_p50", result["idle"]["p50"], "ms", None, result["idle"]["other"])
        figure(f"e2e_{mode}_idle_p99", result["idle"]["p99"], "ms", None, result["idle"]["other"])
        figure(f"e2e_{mode}_load_p50", result["load"]["p50"], "ms", None, result["load"]["other"])
        figure(f"e2e_{mode}_load_p99", result["load"]["p99"], "ms", None, result["load"]["other"])
        figure(f"e2e_{mode}_sustained", result["load"]["rate"], "sales/s", e2e_ceiling, result["load"]["other"])
        for process, before in result["rss_before"].items():
            after = result["rss_after"][process]
            figure(f"rss_{mode}_{process}_after_{args.e2e_load}", after, "MB")
            figure(f"rss_{mode}_{process}_growth", after - before, "MB")
    e2e_ratio = e2e["production"]["load"]["rate"] / e2e_ceiling
    print(f"bench: ingest_ratio={bridge_in['rps'] / ceiling_in['rps']:.2f} delivery_ratio={delivery_ratio:.2f} "
          f"e2e_ratio={e2e_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
