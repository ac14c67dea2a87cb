"""Database round trips per sale: a count, not a speed, so it does not depend on
how busy the machine is.

    python bench/statements.py [--count 50] [--database-url URL]

Posts `count` signed Square sales through the web app (Flask test client) and
runs the worker steps in this process (tests.support.Harness: the real
Work, Deliverer and pipeline, the sandbox core mounted in-process), against
a throwaway PostgreSQL, counting what the engine sends per sale:

- statements: every SQL statement executed (SQLAlchemy's before_cursor_execute);
- transactions: commits;
- checkouts: pool checkouts, i.e. sessions (each one was a `SELECT 1` ping
  while the engine used pool_pre_ping);
- CPU: this process's CPU time (time.process_time) per sale: the bridge's
  Python work plus the in-process test client and sandbox core, not
  PostgreSQL's. Less sensitive to a busy machine than a rate, not immune.

PostgreSQL also sees one BEGIN per transaction, which the driver sends itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack

from _common import SIGNING_KEY, services, square_body
from sqlalchemy import event


class Counter:
    def __init__(self, engine) -> None:
        self.statements = self.transactions = self.checkouts = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine.pool, "checkout", self._checkout)

    def _statement(self, *_args) -> None:
        self.statements += 1

    def _commit(self, *_args) -> None:
        self.transactions += 1

    def _checkout(self, *_args) -> None:
        self.checkouts += 1

    def snapshot(self) -> tuple[int, int, int, float]:
        return self.statements, self.transactions, self.checkouts, time.process_time() * 1000


def measure(database_url: str, count: int) -> dict[str, tuple[float, float, float, float]]:
    from bridge import connections, registry
    from tests.support import Harness

    harness = Harness(database_url)
    connection = harness.add_connection(signing_keys=(SIGNING_KEY,))
    url = connections.webhook_url(harness.config.public_url, connection.id)
    square = registry.get("square")
    bodies = [square_body(n) for n in range(count)]
    signed = [(body, square.sign(body, url, SIGNING_KEY)) for body in bodies]
    counter = Counter(harness.db.engine)
    phases = {}
    before = counter.snapshot()
    for body, headers in signed:
        response = harness.client.post(f"/hooks/{connection.id}", data=body, headers=headers)
        assert response.status_code == 202, response.get_data(as_text=True)
    phases["ingest (per request)"] = counter.snapshot()
    harness.drain()
    phases["worker (per sale)"] = counter.snapshot()
    awarded = len(harness.ledger())
    if awarded != count:
        raise SystemExit(f"expected {count} awards, the sandbox holds {awarded}")
    out, last = {}, before
    for name, now in phases.items():
        out[name] = tuple((b - a) / count for a, b in zip(last, now))
        last = now
    harness.db.dispose()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--database-url", default=None, help="use this PostgreSQL instead of a throwaway one")
    args = p.parse_args(argv)
    with ExitStack() as stack:
        pg_url, _ = services(stack, args.database_url, None, need_redis=False)
        for name, (statements, transactions, checkouts, cpu_ms) in measure(pg_url, args.count).items():
            print(f"{name}: {statements:.1f} statements, {transactions:.1f} transactions, "
                  f"{checkouts:.1f} sessions, {cpu_ms:.1f} ms CPU in this process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
