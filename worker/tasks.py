"""Celery tasks take ids only and reload from the store."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from bridge.runtime import Work


def _work() -> Work:
    extensions = current_app.extensions
    if "bridge_work" not in extensions:
        bridge = extensions["bridge"]
        extensions["bridge_work"] = Work(bridge.config, bridge.db, bridge.dispatcher)
    return extensions["bridge_work"]


@shared_task(name="bridge.process_event")
def process_event(event_id: int) -> None:
    _work().process_event(event_id)


@shared_task(name="bridge.deliver")
def deliver(transaction_id: int) -> None:
    _work().deliver(transaction_id)


@shared_task(name="bridge.sweep")
def sweep() -> dict:
    return _work().sweep()


@shared_task(name="bridge.replay_job")
def replay_job(job_id: int) -> None:
    _work().replay_job(job_id)


@shared_task(name="bridge.reconcile")
def reconcile(connection_id: str) -> None:
    _work().reconcile(connection_id)
