"""The connection-state read (bridge.liveness) at 10 k and 1 M stored events, on PostgreSQL.

    python bench/state.py              # 10 k and 1 M events (~3 minutes)
    python bench/state.py --quick      # 10 k and 100 k

Why this read and not an ingest number: the state adds nothing to ingest.
`last_event_at` is read from the events table (the newest `webhook` row of
the connection, `ix_events_connection_id` walked backwards) and the latest
refusal rides on the UPDATE that already counts refusals, so a webhook costs
what it did. What must stay flat is what `connections list`, `/metrics`, the
dashboard and the alert pass pay per connection. Rows come from
bench/search.py's generator (one busy connection, `con_bench`); ten `test`
events are added on top, so the walk must step past them. A second
connection, `con_quiet`, has one event stored before all of them: the worst
case for a read that walked the primary key. The ceiling is the same read at
the smallest size (target: a ratio within 2x). Numbers, never assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import services  # noqa: E402
from bench.search import grow_to, print_growth, print_plan, timed  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from bridge import liveness  # noqa: E402
from bridge.store import Database  # noqa: E402
from bridge.store.tables import ConnectionRow, EventRow  # noqa: E402

TESTS_ON_TOP = """
INSERT INTO events (connection_id, vendor, vendor_event_id, source, event_type, headers, body, received_at,
                    status, attempts, replay_requested)
SELECT 'con_bench', 'square', 'test-' || g || '-' || CAST(:n AS bigint), 'test', 'test', '{}'::json,
       convert_to('{}', 'UTF8'), now(), 'delivered', 1, false
FROM generate_series(1, 10) AS g
"""

QUIET = """
INSERT INTO connections (id, name, vendor, target_kind, target_url, target_key, signing_keys, settings,
                         status, created_at)
VALUES ('con_quiet', 'Quiet', 'square', 'xtarly', 'https://core.example/x', 'plain:k', 'plain:[]', '{}',
        'active', now());
INSERT INTO events (connection_id, vendor, vendor_event_id, source, event_type, headers, body, received_at,
                    status, attempts, replay_requested)
VALUES ('con_quiet', 'square', 'evt-quiet', 'webhook', 'payment.updated', '{}'::json, convert_to('{}', 'UTF8'),
        now() - interval '3 days', 'delivered', 1, false)
"""


def measure(db: Database) -> dict[str, tuple[float, float]]:
    with db.session() as session:
        busy, quiet = session.get(ConnectionRow, "con_bench"), session.get(ConnectionRow, "con_quiet")

    def last_event(connection_id):
        def read():
            with db.session() as session:
                liveness.last_event_at(session, connection_id)
        return read

    return {"last_event_at, busy": timed(last_event("con_bench")),
            "last_event_at, quiet": timed(last_event("con_quiet")),
            "whole state, busy": timed(lambda: liveness.liveness(db, busy)),
            "whole state, quiet": timed(lambda: liveness.liveness(db, quiet))}


def explain(db: Database) -> None:
    for connection_id in ("con_bench", "con_quiet"):
        print_plan(db, f"last_event_at of {connection_id}", select(EventRow.received_at)
                   .where(EventRow.connection_id == connection_id, EventRow.source == "webhook")
                   .order_by(EventRow.connection_id.desc(), EventRow.id.desc()).limit(1))


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
        with db.engine.begin() as connection:
            for statement in QUIET.split(";\n"):
                connection.execute(text(statement))
        results, have = {}, 0
        for size in sizes:
            grow_to(db, have, size)
            with db.engine.begin() as connection:
                connection.execute(text(TESTS_ON_TOP), {"n": size})
                connection.execute(text("ANALYZE"))
            have = size
            print(f"{size:,} events stored; measuring ...", flush=True)
            results[size] = measure(db)
        explain(db)
        print_growth(results, "read")
        db.dispose()
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"\n({time.perf_counter() - started:.0f} s)")
    sys.exit(code)
