"""Production: `celery -A worker.celery_app worker` and `celery -A worker.celery_app beat`.

Wired the pallets way: the Flask app is made first and every task runs in
its app context.
"""

from __future__ import annotations

from celery import Celery, Task
from celery.signals import setup_logging
from flask import Flask

from bridge.app import create_app
from bridge.config import Config
from bridge.dispatch import CeleryDispatcher
from bridge.logs import configure_logging


def celery_init_app(app: Flask, config: Config) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=config.redis_url,
        task_ignore_result=True,
        # A task is acknowledged after it ran, and re-queued if its worker dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        beat_schedule={"sweep": {"task": "bridge.sweep", "schedule": config.sweep_interval_seconds}},
        imports=("worker.tasks",),
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def make_celery() -> Celery:
    config = Config.from_env()
    if config.log_format == "json":
        # Celery would install its own text handler on the root logger; ours instead.
        setup_logging.connect(lambda **_: configure_logging("json"), weak=False)
    if not config.redis_url:
        raise SystemExit("REDIS_URL is not set: production workers need Redis (embedded mode is `bridge run`)")
    app = create_app(config)
    celery = celery_init_app(app, config)
    app.extensions["bridge"].dispatcher = CeleryDispatcher(celery)
    return celery


celery_app = make_celery()
