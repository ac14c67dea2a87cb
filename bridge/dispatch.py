"""Waking workers up. The database holds the work; a dispatcher only says
"look at row N". Losing a wake-up costs latency, never an event: the sweeper
finds every due row again."""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import urlsplit

import redis
from kombu.serialization import dumps
from kombu.transport.virtual.base import Base64
from kombu.utils import json
from kombu.utils.uuid import uuid

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
        self.publish = (RedisPublisher(celery_app) if RedisPublisher.serves(celery_app)
                        else lambda task, ident: celery_app.send_task(task, args=[ident]))

    def _send(self, task: str, ident: int | str) -> None:
        try:
            self.publish(task, ident)
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


class RedisPublisher:
    """Celery's own task message, pushed onto the queue's Redis list over one
    long-lived connection pool: what `send_task` writes, for a third of its CPU.

    Why: every webhook wakes a worker, and kombu's Redis transport builds a new
    Redis client, copies the message and re-checks the queue's declaration on
    each publish. That was 32 % of a webhook's CPU at ingest
    (docs/performance.md). The message does not change: Celery builds its
    headers and body (`create_task_message`), kombu's serializer encodes the
    body, and the envelope is the one kombu's Redis channel writes for the
    default exchange (body in base64, a delivery tag, priority 0, so the list
    is the queue's own name). tests/test_dispatch.py holds it to `send_task`'s
    message, field by field.

    Only for what it knows how to route: a redis:// broker with no task routes,
    no key prefix and no TLS settings of Celery's own (`serves`); anything else
    goes through `send_task`."""

    def __init__(self, celery_app) -> None:
        self.amqp = celery_app.amqp
        self.queue = celery_app.conf.task_default_queue
        # A wake-up that cannot be written within a second is dropped and logged:
        # the sweeper finds the row again, and the webhook's answer waits no longer.
        self.client = redis.Redis.from_url(celery_app.conf.broker_url, socket_timeout=1, socket_connect_timeout=1)

    @staticmethod
    def serves(celery_app) -> bool:
        conf = celery_app.conf
        return (urlsplit(conf.broker_url or "").scheme in ("redis", "rediss") and not conf.task_routes
                and not (conf.broker_transport_options or {}).get("global_keyprefix") and not conf.broker_use_ssl)

    def message(self, task: str, ident: int | str) -> str:
        headers, properties, body, _ = self.amqp.create_task_message(uuid(), task, args=[ident],
                                                                     ignore_result=None)  # as send_task
        content_type, content_encoding, payload = dumps(body, serializer="json")
        properties.update(delivery_mode=2, priority=0, body_encoding="base64", delivery_tag=uuid(),
                          delivery_info={"exchange": "", "routing_key": self.queue})
        return json.dumps({"body": Base64().encode(payload), "content-encoding": content_encoding,
                           "content-type": content_type, "headers": headers, "properties": properties})

    def __call__(self, task: str, ident: int | str) -> None:
        self.client.lpush(self.queue, self.message(task, ident))
