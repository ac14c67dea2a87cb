"""The worker's three jobs, bound to one store and config. Embedded threads
and Celery tasks both call these; neither holds business logic of its own."""

from __future__ import annotations

import time

import httpx

from bridge import alerts
from bridge.config import Config
from bridge.delivery import Deliverer
from bridge.dispatch import Dispatcher
from bridge.pipeline import process_event
from bridge.replay import run_job_step
from bridge.retention import purge
from bridge.store import Database
from bridge.sweeper import sweep


class Work:
    def __init__(self, config: Config, db: Database, dispatcher: Dispatcher,
                 http: httpx.Client | None = None) -> None:
        self.config, self.db, self.dispatcher = config, db, dispatcher
        self.deliverer = Deliverer(db, timeout=config.delivery_timeout_seconds,
                                   retry_budget_seconds=config.retry_budget_seconds,
                                   allow_private_targets=config.allow_private_targets, http=http)
        self._alert_http: httpx.Client | None = None
        self._next_alert_pass = 0.0

    def process_event(self, event_id: int) -> None:
        process_event(self.db, self.dispatcher, self.config.public_url, event_id)

    def deliver(self, transaction_id: int) -> None:
        self.deliverer.deliver(transaction_id)

    def replay_job(self, job_id: int) -> None:
        """One step of a bulk replay, then back in the queue behind live work."""
        if run_job_step(self.db, self, job_id):
            self.dispatcher.replay_job(job_id)

    def sweep(self) -> dict[str, int]:
        found = sweep(self.db, self.dispatcher, self.config.requeue_after_seconds)
        found["purged"] = purge(self.db, self.config.retention_seconds)
        found["alerts"] = self._announce_state_changes()
        return found

    def _announce_state_changes(self) -> int:
        """At most every `alert_interval_seconds`: a pass reads every connection's state."""
        url = self.config.alert_webhook_url
        if not url or time.monotonic() < self._next_alert_pass:
            return 0
        self._next_alert_pass = time.monotonic() + self.config.alert_interval_seconds
        if self._alert_http is None:
            self._alert_http = httpx.Client(timeout=self.config.delivery_timeout_seconds, follow_redirects=False)
        return alerts.announce_changes(self.db, url, self.config.public_url, self._alert_http)
