"""Memory over a long stream: RSS of the web and worker processes, round by round.

    python bench/memory.py               # 100,000 sales in rounds of 10,000 (~45 min, 2-core machine)
    python bench/memory.py --quick       # 10,000 sales in rounds of 2,000 (~5 min)

Runs the production stack of bench/run.py's end to end (gunicorn 2 x 4, two
thread-pool Celery workers of 16, beat, the sandbox core as its own gunicorn
process) against a throwaway PostgreSQL and Redis. Each round posts fresh
signed Square sales from 8 threads, waits until the bridge's own store says
every one of them is delivered, then reads the RSS of the web processes and
of the worker processes (each with its forked children).

Prints one row per round and ends with

    memory: web_growth=W MB worker_growth=K MB over N sales after the first round

The first round is the baseline: it fills the import, connection-pool and
statement caches a fresh process builds once. A leak shows as growth that
goes on round after round; a flat line after the first round is no leak.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import time
from contextlib import ExitStack

import httpx
from _common import CpuMeter, announce, quiet_check, services, signed_requests, table

from run import e2e_stack, fresh_database, memory

METER = CpuMeter()


def delivered_count(database, connection_id: str) -> int:
    from sqlalchemy import func, select

    from bridge.store.tables import TransactionRow

    with database.session() as session:
        return session.scalar(select(func.count()).select_from(TransactionRow).where(
            TransactionRow.connection_id == connection_id, TransactionRow.status == "delivered"))


def post_round(hook: str, count: int, concurrency: int) -> dict[int, int]:
    """Post `count` fresh sales; the answers by status code."""
    requests = signed_requests(count, hook)
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=60) as client:
        def post(item):
            body, headers = item
            try:
                return client.post(hook, content=body, headers=headers).status_code
            except httpx.HTTPError:
                return 0

        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            for status in pool.map(post, requests):
                statuses[status] = statuses.get(status, 0) + 1
    return statuses


def wait_delivered(database, connection_id: str, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (done := delivered_count(database, connection_id)) < expected and time.monotonic() < deadline:
        time.sleep(1)
    return done


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10,000 sales in rounds of 2,000")
    p.add_argument("--sales", type=int, help="sales in all (default 100,000; 10,000 with --quick)")
    p.add_argument("--round", type=int, help="sales per round (default 10,000; 2,000 with --quick)")
    p.add_argument("--concurrency", type=int, default=8, help="threads posting sales (default 8)")
    p.add_argument("--keep-logs", action="store_true", help="keep every process log (paths printed at the end)")
    args = p.parse_args(argv)
    args.sales = args.sales or (10_000 if args.quick else 100_000)
    args.round = args.round or (2_000 if args.quick else 10_000)
    if args.sales < 2 * args.round:
        p.error("--sales must be at least two rounds: the first one is the baseline")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    announce("memory.py", argv)
    from bridge.store import Database

    rows = []
    try:
        with ExitStack() as stack:
            pg_url, redis_url = services(stack, None, None)
            procs, _web, _core, connection = e2e_stack(stack, "production", fresh_database(pg_url, "bench_memory"),
                                                       redis_url, args.keep_logs)
            database = Database(procs.env["DATABASE_URL"])
            stack.callback(database.dispose)
            sent = 0
            while sent < args.sales:
                count = min(args.round, args.sales - sent)
                before, started = METER.snapshot(), time.monotonic()
                statuses = post_round(connection["webhook_url"], count, args.concurrency)
                sent += count
                done = wait_delivered(database, connection["id"], sent, timeout=max(600.0, count / 5))
                if done < sent:
                    raise SystemExit(f"memory: {done} of {sent} sales delivered; answers this round {statuses}")
                elapsed = time.monotonic() - started
                rss = memory(procs, ("web", "worker"))
                rows.append([sent, rss["web"], rss["worker"], count / elapsed,
                             METER.foreign(before, METER.snapshot())])
                print(f"round: {sent} sales, web {rss['web']:.1f} MB, worker {rss['worker']:.1f} MB, "
                      f"{count / elapsed:.1f} sales/s, answers {statuses}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: everything started by this script has been stopped", file=sys.stderr)
        return 130

    print("\n" + quiet_check("after the run"))
    print(table(["sales delivered", "web RSS MB", "worker RSS MB", "sales/s", "other CPU %"], rows,
                title="RSS after each round (web: gunicorn master + 2 workers; worker: 2 Celery workers + pools)"))
    first, last = rows[0], rows[-1]
    print(f"memory: web_growth={last[1] - first[1]:.1f} MB worker_growth={last[2] - first[2]:.1f} MB "
          f"over {last[0] - first[0]} sales after the first round")
    return 0


if __name__ == "__main__":
    sys.exit(main())
