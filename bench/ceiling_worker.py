"""The delivery CEILING as the issue defines it: a Celery task that does one
UPDATE and one POST, and nothing else.

    DATABASE_URL=... REDIS_URL=... celery -A bench.ceiling_worker:celery_app worker --concurrency 2

Same broker, same Celery settings as worker/celery_app.py (late acks,
prefetch 1), same engine settings (bridge.store.db.make_engine), one
httpx.Client per process as bridge.delivery keeps one, the same request
body and headers the bridge's Xtarly client builds (sent as the task's
arguments, so the task need not read them). The gap to the bridge is the
bridge's own per-sale work: reading and parsing the stored event, storing the
transaction, the claim, the attempt and the outcome.
"""

from __future__ import annotations

import os

import httpx
from celery import Celery
from sqlalchemy import text

from bridge.store.db import make_engine

TABLE = "bench_ceiling_deliveries"
DDL = f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGINT PRIMARY KEY, status TEXT NOT NULL)"
UPDATE = text(f"UPDATE {TABLE} SET status = :status WHERE id = :id")

_engine = None  # made in the worker process, on its first task
http = httpx.Client(timeout=10, follow_redirects=False)
celery_app = Celery("bench-ceiling", broker=os.environ.get("REDIS_URL"))
celery_app.conf.update(task_ignore_result=True, task_acks_late=True, task_reject_on_worker_lost=True,
                       worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True)


@celery_app.task(name="ceiling.deliver")
def deliver(row_id: int, method: str, url: str, headers: dict, body: dict) -> None:
    response = http.request(method, url, headers=headers, json=body, timeout=10)
    response.json()
    global _engine
    if _engine is None:
        _engine = make_engine(os.environ["DATABASE_URL"])
    with _engine.begin() as connection:
        connection.execute(UPDATE, {"id": row_id, "status": str(response.status_code)})


def prepare(engine, count: int) -> None:
    """(Re)create the table with `count` pending rows, before the clock."""
    with engine.begin() as connection:
        connection.execute(text(DDL))
        connection.execute(text(f"DELETE FROM {TABLE}"))
        connection.execute(text(f"INSERT INTO {TABLE} (id, status) SELECT n, 'pending' "
                                f"FROM generate_series(1, {int(count)}) AS n"))
