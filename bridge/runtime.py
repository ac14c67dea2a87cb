"""The worker's three jobs, bound to one store and config. Embedded threads
and Celery tasks both call these; neither holds business logic of its own."""

from __future__ import annotations

import logging

import httpx

from bridge.config import Config
from bridge.delivery import Deliverer
from bridge.dispatch import Dispatcher
from bridge.logs import log_context
from bridge.pipeline import process_event
from bridge.replay import run_job_step
from bridge.retention import purge
from bridge.store import Database
from bridge.sweeper import sweep
from bridge.throttle import buckets_for

log = logging.getLogger("bridge.runtime")


class Work:
    def __init__(self, config: Config, db: Database, dispatcher: Dispatcher,
                 http: httpx.Client | None = None) -> None:
        self.config, self.db, self.dispatcher = config, db, dispatcher
        self.deliverer = Deliverer(db, timeout=config.delivery_timeout_seconds,
                                   retry_budget_seconds=config.retry_budget_seconds,
                                   allow_private_targets=config.allow_private_targets, http=http,
                                   buckets=buckets_for(config.redis_url))

    def process_event(self, event_id: int) -> None:
        """Parse, then deliver what is due right here: a second task per sale
        would cost a broker round trip and a queue's wait behind the backlog."""
        with log_context(event_id=event_id):  # the inline deliveries' lines name the event too
            self._deliver_due(event_id, process_event(self.db, self.config.public_url, event_id))

    def _deliver_due(self, event_id: int, transaction_ids: list[int]) -> None:
        for transaction_id in transaction_ids:
            try:
                self.deliverer.deliver(transaction_id)
            except Exception as error:  # e.g. the database went away: another worker tries again
                # The type only: a driver's message can quote statement parameters.
                log.warning("delivering transaction %s after event %s failed (%s); queued for a worker",
                            transaction_id, event_id, type(error).__name__)
                self.dispatcher.deliver(transaction_id)

    def deliver(self, transaction_id: int) -> None:
        self.deliverer.deliver(transaction_id)

    def replay_job(self, job_id: int) -> None:
        """One step of a bulk replay, then back in the queue behind live work."""
        if run_job_step(self.db, self, job_id):
            self.dispatcher.replay_job(job_id)

    def sweep(self) -> dict[str, int]:
        found = sweep(self.db, self.dispatcher, self.config.requeue_after_seconds)
        found["purged"] = purge(self.db, self.config.retention_seconds)
        return found
