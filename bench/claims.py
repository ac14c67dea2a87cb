"""How long a receipt claim takes to answer "not found", per kind of no-match.

    python bench/claims.py              # 200 claims per kind, SQLite
    python bench/claims.py --n 500 --postgres   # on a throwaway PostgreSQL (needs initdb)

The claim page must not tell which receipts exist (bridge/claims.py): every
no-match does the same work and answers the same body. This prints the
median and p90 answer time for each kind (unknown receipt, wrong total,
wrong date, already claimed, outside the window), interleaved so machine
noise hits all kinds alike. The ceiling is the noise floor measured in the
same run: the same kind (unknown receipt) measured twice. Kinds whose
medians differ by no more than the two runs of one kind do are
indistinguishable. Numbers, never assertions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.store.tables import utcnow  # noqa: E402
from tests.support import Harness  # noqa: E402
from tests.test_claims import anonymous_sale, claim, claims_connection  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="claims per kind (default 200)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if args.postgres:
            from tests.services import PostgresServer

            server = PostgresServer()
            server.start()
            url = server.url
        else:
            url = f"sqlite:///{Path(tmp) / 'claims.db'}"
        harness = Harness(url, claim_address_rate_limit="off", claim_rate_limit="off")
        try:
            run(harness, args.n)
        finally:
            harness.close()
            if server:
                server.stop()


def run(harness: Harness, n: int) -> None:
    connection = claims_connection(harness)
    anonymous_sale(harness, connection, "PAYopen", receipt="R-OPEN")
    anonymous_sale(harness, connection, "PAYclaimed", receipt="R-CLAIMED")
    anonymous_sale(harness, connection, "PAYold", receipt="R-OLD", days_ago=20)
    assert claim(harness, connection, receipt="R-CLAIMED", email="bob@example.com").status_code == 200
    today, yesterday = utcnow().date(), (utcnow() - timedelta(days=1)).date()
    old = (utcnow() - timedelta(days=20)).date()
    kinds = {
        "unknown receipt": dict(receipt="R-NOPE"),
        "unknown receipt (again)": dict(receipt="R-NOPE2"),
        "wrong total": dict(receipt="R-OPEN", amount="25.01"),
        "wrong date": dict(receipt="R-OPEN", date=yesterday.isoformat()),
        "already claimed": dict(receipt="R-CLAIMED"),
        "outside the window": dict(receipt="R-OLD", date=old.isoformat()),
    }
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(10):  # warm-up
        claim(harness, connection, receipt="WARM", email="alice@example.com")
    for _ in range(n):
        for kind, fields in kinds.items():
            fields = {"date": today.isoformat(), "email": "alice@example.com", **fields}
            started = time.perf_counter()
            response = claim(harness, connection, **fields)
            timings[kind].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 404 and response.get_json() == {"status": "not_found"}, kind
    floor = abs(statistics.median(timings["unknown receipt"]) - statistics.median(timings["unknown receipt (again)"]))
    print(f"{harness.db.engine.dialect.name}, {n} claims per kind, every answer 404 {{\"status\": \"not_found\"}}")
    print(f"{'kind':<26}{'median ms':>10}{'p90 ms':>9}{'vs unknown':>12}")
    base = statistics.median(timings["unknown receipt"])
    for kind, values in timings.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{kind:<26}{median:>10.2f}{p90:>9.2f}{median - base:>+12.2f}")
    print(f"CEILING (noise floor: the same kind measured twice): {floor:.2f} ms")


if __name__ == "__main__":
    main()
