"""Celery tasks take ids only and reload from the store."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from celery import shared_task
from flask import current_app
from sqlalchemy.exc import DBAPIError

from bridge.runtime import Work

# A cut database connection: try again soon on a fresh one. Every step starts
# with a compare-and-set claim, so a retry never repeats work that committed.
DISCONNECT_RETRIES, DISCONNECT_RETRY_SECONDS = 5, 1.0
_work_lock = threading.Lock()  # `--pool threads` runs tasks concurrently in one process


def _work() -> Work:
    extensions = current_app.extensions
    with _work_lock:
        if "bridge_work" not in extensions:
            bridge = extensions["bridge"]
            extensions["bridge_work"] = Work(bridge.config, bridge.db, bridge.dispatcher)
    return extensions["bridge_work"]


@contextmanager
def _retrying_disconnects(task):
    try:
        yield
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        raise task.retry(countdown=DISCONNECT_RETRY_SECONDS, max_retries=DISCONNECT_RETRIES) from error


@shared_task(name="bridge.process_event", bind=True)
def process_event(self, event_id: int) -> None:
    with _retrying_disconnects(self):
        _work().process_event(event_id)


@shared_task(name="bridge.deliver", bind=True)
def deliver(self, transaction_id: int) -> None:
    with _retrying_disconnects(self):
        _work().deliver(transaction_id)


@shared_task(name="bridge.sweep")
def sweep() -> dict:
    return _work().sweep()


@shared_task(name="bridge.replay_job", bind=True)
def replay_job(self, job_id: int) -> None:
    with _retrying_disconnects(self):
        _work().replay_job(job_id)


@shared_task(name="bridge.reconcile", bind=True)
def reconcile(self, connection_id: str) -> None:
    with _retrying_disconnects(self):
        _work().reconcile(connection_id)
