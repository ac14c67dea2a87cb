"""Embedded mode: worker threads and a sweeper thread inside the web process.

No broker: the queue is in memory. A crash loses only wake-ups; rows stay due
in the database and the sweeper finds them on the next start.
"""

from __future__ import annotations

import logging
import queue
import threading

from bridge.config import Config
from bridge.runtime import Work
from bridge.store import Database

log = logging.getLogger("bridge.embedded")


class EmbeddedDispatcher:
    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, int | str]] = queue.Queue()

    def process_event(self, event_id: int) -> None:
        self.queue.put(("process_event", event_id))

    def deliver(self, transaction_id: int) -> None:
        self.queue.put(("deliver", transaction_id))

    def replay_job(self, job_id: int) -> None:
        self.queue.put(("replay_job", job_id))

    def reconcile(self, connection_id: str) -> None:
        self.queue.put(("reconcile", connection_id))

    def ping(self) -> str:
        return "ok"


class EmbeddedWorker:
    def __init__(self, config: Config, db: Database, dispatcher: EmbeddedDispatcher) -> None:
        self.config, self.dispatcher = config, dispatcher
        self.work = Work(config, db, dispatcher)
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for number in range(self.config.embedded_workers):
            self.threads.append(threading.Thread(target=self._consume, name=f"bridge-worker-{number}", daemon=True))
        self.threads.append(threading.Thread(target=self._sweep, name="bridge-sweeper", daemon=True))
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        for _ in range(self.config.embedded_workers):
            self.dispatcher.queue.put(("stop", 0))
        for thread in self.threads:
            thread.join(timeout)

    def _consume(self) -> None:
        while not self.stopping.is_set():
            job, ident = self.dispatcher.queue.get()
            if job == "stop":
                return
            try:
                getattr(self.work, job)(ident)
            except Exception:  # one bad row must not kill the worker; the row stays due
                log.exception("%s(%s) failed", job, ident)

    def _sweep(self) -> None:
        while not self.stopping.wait(self.config.sweep_interval_seconds):
            try:
                self.work.sweep()
            except Exception:
                log.exception("sweep failed")
