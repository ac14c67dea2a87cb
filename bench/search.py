"""Support-tool queries at 10 k and 1 M stored events, on PostgreSQL.

    python bench/search.py              # 10 k and 1 M events (~3 minutes)
    python bench/search.py --quick      # 10 k and 100 k
    python bench/search.py --database-url postgresql+psycopg://...   # an existing, EMPTY database

Measures, through the project's own code (bridge.search, bridge.views), the
p50/p99 of: the failed list (newest 100 failed events), a search by
customer email, and one event's detail page. Rows are generated in the
database itself (INSERT ... SELECT generate_series), shaped like real
traffic: 90 % delivered, 5 % skipped, 3 % unmatched, 2 % failed, one
transaction per event, five events per customer (so a search by email
returns five events at every size). The ceiling is the same
query at the smallest size: what should stay flat is the ratio large/small
(target: within 2x). EXPLAIN (ANALYZE) of each query at the largest size is
printed for docs/performance.md. Numbers, never assertions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import services  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bridge import search, views  # noqa: E402
from bridge.search import EventFilter  # noqa: E402
from bridge.store import Database  # noqa: E402

SAMPLES = 200

SEED_SQL = """
INSERT INTO connections (id, name, vendor, target_kind, target_url, target_key, signing_keys, settings,
                         status, created_at)
VALUES ('con_bench', 'Bench', 'square', 'xtarly', 'https://core.example/x', 'plain:k', 'plain:[]', '{}',
        'active', now())
ON CONFLICT DO NOTHING;

INSERT INTO events (connection_id, vendor, vendor_event_id, source, event_type, headers, body, content_type,
                    remote_addr, received_at, status, reason, attempts, replay_requested)
SELECT 'con_bench', 'square', 'evt-' || g, 'webhook', 'payment.updated', '{}'::json,
       convert_to('{"event_id":"evt-' || g || '"}', 'UTF8'), 'application/json', '127.0.0.1',
       now() - ((CAST(:n AS bigint) - g) || ' seconds')::interval,
       CASE WHEN g % 100 < 90 THEN 'delivered' WHEN g % 100 < 95 THEN 'skipped'
            WHEN g % 100 < 98 THEN 'unmatched' ELSE 'failed' END,
       'bench', 1, false
FROM generate_series(CAST(:start AS bigint), CAST(:n AS bigint)) AS g;

INSERT INTO transactions (idempotency_key, connection_id, vendor, source_id, kind, amount_minor, currency,
                          occurred_at, customer_email, reference, line_items, metadata, status, attempts,
                          created_at, updated_at)
SELECT 'lb_bench_' || g, 'con_bench', 'square', 'pay-' || g, 'sale', 1999, 'USD', now(),
       'customer' || (g / 5) || '@example.com', 'R-' || g, '[]'::json, '{}'::json, 'delivered', 1,
       now(), now()
FROM generate_series(CAST(:start AS bigint), CAST(:n AS bigint)) AS g;

INSERT INTO event_transactions (event_id, transaction_id)
SELECT e.id, t.id FROM events e JOIN transactions t ON t.source_id = 'pay-' || substr(e.vendor_event_id, 5)
WHERE e.id >= (SELECT min(id) FROM events WHERE vendor_event_id = 'evt-' || CAST(:start AS bigint));
ANALYZE;
"""


def grow_to(db: Database, have: int, want: int) -> None:
    with db.engine.begin() as connection:
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                connection.execute(text(statement), {"start": have + 1, "n": want})


def timed(function, samples: int = SAMPLES) -> tuple[float, float]:
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        function()
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return statistics.median(durations), durations[int(len(durations) * 0.99) - 1]


def measure(db: Database, size: int) -> dict[str, tuple[float, float]]:
    rand = random.Random(size)

    def failed_list():
        with db.session() as session:
            search.page(session, EventFilter(status="failed"), limit=100)

    def by_email():
        with db.session() as session:
            customer = rand.randrange(1, size // 5)
            search.page(session, EventFilter(email=f"customer{customer}@example.com"), limit=100)

    def detail():
        views.show_event(db, rand.randrange(1, size + 1))

    return {"failed list": timed(failed_list), "search by email": timed(by_email), "event detail": timed(detail)}


def print_plan(db: Database, name: str, query) -> None:
    """PostgreSQL's EXPLAIN ANALYZE of `query` (its parameters inlined), for docs/performance.md."""
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    with db.session() as session:
        plan = session.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {compiled}")).scalars().all()
    print(f"\nEXPLAIN ANALYZE, {name}:\n  " + "\n  ".join(plan))


def print_growth(results: dict[int, dict[str, tuple[float, float]]], heading: str) -> None:
    """p50/p99 per measurement at the smaller and the larger size, and the p50 ratio."""
    small, large = sorted(results)
    width = max(len(heading), *(len(name) for name in results[small])) + 4
    print(f"\n{heading:<{width}}{'p50 ' + f'{small:,}':>14}{'p99':>9}{'p50 ' + f'{large:,}':>16}{'p99':>9}"
          f"{'p50 ratio':>11}")
    for name in results[small]:
        (p50s, p99s), (p50l, p99l) = results[small][name], results[large][name]
        print(f"{name:<{width}}{p50s:>11.2f} ms{p99s:>6.2f} ms{p50l:>13.2f} ms{p99l:>6.2f} ms{p50l / p50s:>10.2f}x")


def explain(db: Database) -> None:
    for name, flt in (("failed list", EventFilter(status="failed")),
                      ("search by email", EventFilter(email="customer4242@example.com"))):
        print_plan(db, name, search.event_query(flt).order_by(search.EventRow.id.desc()).limit(101))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 k and 100 k events")
    parser.add_argument("--database-url", help="an existing, empty PostgreSQL database (default: a throwaway server)")
    args = parser.parse_args(argv)
    sizes = (10_000, 100_000) if args.quick else (10_000, 1_000_000)
    with ExitStack() as stack:
        url, _ = services(stack, args.database_url, None, need_redis=False)
        db = Database(url)
        db.upgrade()
        results, have = {}, 0
        for size in sizes:
            started = time.perf_counter()
            grow_to(db, have, size)
            have = size
            print(f"{size:,} events stored in {time.perf_counter() - started:.1f}s; measuring ...", flush=True)
            results[size] = measure(db, size)
        explain(db)
        print_growth(results, "query")
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
