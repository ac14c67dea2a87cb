"""The worker's jobs, bound to one store and config. Embedded threads
and Celery tasks both call these; neither holds business logic of its own."""

from __future__ import annotations

import logging

import httpx

from bridge.config import Config
from bridge.delivery import Deliverer
from bridge.dispatch import Dispatcher
from bridge.pipeline import process_event
from bridge.reconcile import Reconciler
from bridge.reconcile_schedule import every_of
from bridge.replay import run_job_step
from bridge.retention import purge
from bridge.store import Database
from bridge.store.tables import ConnectionRow
from bridge.sweeper import sweep

log = logging.getLogger("bridge.runtime")


class Work:
    def __init__(self, config: Config, db: Database, dispatcher: Dispatcher,
                 http: httpx.Client | None = None) -> None:
        self.config, self.db, self.dispatcher = config, db, dispatcher
        self.deliverer = Deliverer(db, timeout=config.delivery_timeout_seconds,
                                   retry_budget_seconds=config.retry_budget_seconds,
                                   allow_private_targets=config.allow_private_targets, http=http)
        self.reconciler = Reconciler(db, dispatcher, config.public_url)

    def process_event(self, event_id: int) -> None:
        process_event(self.db, self.dispatcher, self.config.public_url, event_id)

    def deliver(self, transaction_id: int) -> None:
        self.deliverer.deliver(transaction_id)

    def replay_job(self, job_id: int) -> None:
        """One step of a bulk replay, then back in the queue behind live work."""
        if run_job_step(self.db, self, job_id):
            self.dispatcher.replay_job(job_id)

    def reconcile(self, connection_id: str) -> None:
        """A scheduled reconciliation of one connection (bridge.reconcile)."""
        with self.db.session() as session:
            row = session.get(ConnectionRow, connection_id)
            every = every_of(dict(row.settings or {})) if row is not None else None
        if every is None:
            return
        try:
            self.reconciler.run_scheduled(connection_id, every)
        except Exception:  # a connector bug: the run keeps its cursor and is resumed next time
            log.exception("reconciliation of %s failed", connection_id)

    def sweep(self) -> dict[str, int]:
        found = sweep(self.db, self.dispatcher, self.config.requeue_after_seconds,
                      reconcile=self.config.scheduled_reconcile)
        found["purged"] = purge(self.db, self.config.retention_seconds)
        return found
