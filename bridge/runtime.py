"""The worker's jobs, bound to one store and config. Embedded threads
and Celery tasks both call these; neither holds business logic of its own."""

from __future__ import annotations

import logging
import time

import httpx

from bridge import alerts
from bridge.config import Config
from bridge.delivery import Deliverer
from bridge.dispatch import Dispatcher
from bridge.logs import log_context
from bridge.pipeline import Due, process_event
from bridge.reconcile import Reconciler
from bridge.reconcile_schedule import every_of
from bridge.replay import run_job_step
from bridge.retention import purge
from bridge.store import Database
from bridge.store.tables import ConnectionRow
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
        self._alert_http: httpx.Client | None = None
        self._next_alert_pass = 0.0
        self.reconciler = Reconciler(db, dispatcher, config.public_url)

    def process_event(self, event_id: int) -> None:
        """Parse, then deliver what is due right here: a second task per sale
        would cost a broker round trip and a queue's wait behind the backlog."""
        with log_context(event_id=event_id):  # the inline deliveries' lines name the event too
            self._deliver_due(event_id, process_event(self.db, self.config.public_url, event_id, self.deliverer))

    def _deliver_due(self, event_id: int, due: Due) -> None:
        for claimed in due.claimed:
            self._deliver_or_hand_over(event_id, claimed.transaction_id, self.deliverer.deliver_claimed, claimed)
        for transaction_id in due.transaction_ids:
            self._deliver_or_hand_over(event_id, transaction_id, self.deliverer.deliver, transaction_id)

    def _deliver_or_hand_over(self, event_id: int, transaction_id: int, deliver, *args) -> None:
        try:
            deliver(*args)
        except Exception as error:  # e.g. the database went away: another worker tries again
            # The type only: a driver's message can quote statement parameters.
            # A row stored claimed is taken once its lease runs out.
            log.warning("delivering transaction %s after event %s failed (%s); queued for a worker",
                        transaction_id, event_id, type(error).__name__)
            self.dispatcher.deliver(transaction_id)

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
