"""Waking workers up. The database holds the work; a dispatcher only says
"look at row N". Losing a wake-up costs latency, never an event: the sweeper
finds every due row again."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("bridge.dispatch")


class Dispatcher(Protocol):
    def process_event(self, event_id: int) -> None: ...
    def deliver(self, transaction_id: int) -> None: ...
    def replay_job(self, job_id: int) -> None: ...
    def reconcile(self, connection_id: str) -> None: ...
    def ping(self) -> str: ...


class NullDispatcher:
    """For tools that only write the store (the CLI): the sweeper picks it up."""

    def process_event(self, event_id: int) -> None:
        pass

    def deliver(self, transaction_id: int) -> None:
        pass

    def replay_job(self, job_id: int) -> None:
        pass

    def reconcile(self, connection_id: str) -> None:
        pass

    def ping(self) -> str:
        return "ok"


class CeleryDispatcher:
    """Production: tasks by name over Redis, so the web never imports worker code."""

    def __init__(self, celery_app) -> None:
        self.celery = celery_app

    def _send(self, task: str, ident: int | str) -> None:
        try:
            self.celery.send_task(task, args=[ident])
        except Exception as error:  # broker down: the sweeper re-finds the row
            log.warning("could not enqueue %s(%s): %s", task, ident, type(error).__name__)

    def process_event(self, event_id: int) -> None:
        self._send("bridge.process_event", event_id)

    def deliver(self, transaction_id: int) -> None:
        self._send("bridge.deliver", transaction_id)

    def replay_job(self, job_id: int) -> None:
        self._send("bridge.replay_job", job_id)

    def reconcile(self, connection_id: str) -> None:
        self._send("bridge.reconcile", connection_id)

    def ping(self) -> str:
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return "ok"
        except Exception as error:
            return f"unavailable: {type(error).__name__}"
