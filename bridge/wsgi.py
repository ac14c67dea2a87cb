"""gunicorn entry point for the web process: `gunicorn bridge.wsgi:app`.

With REDIS_URL set the web only enqueues, by task name, to Celery workers.
Without it this serves the embedded bridge (worker threads in the process):
use one gunicorn worker then, or just `bridge run`.
"""

from __future__ import annotations

from celery import Celery

from bridge.app import create_app
from bridge.config import Config
from bridge.dispatch import CeleryDispatcher


def make_app():
    config = Config.from_env()
    if config.embedded:
        from bridge.embedded import start_embedded

        return start_embedded(config)
    broker = Celery("bridge-web", broker=config.redis_url)
    broker.conf.broker_connection_retry_on_startup = True
    return create_app(config, dispatcher=CeleryDispatcher(broker))


app = make_app()
