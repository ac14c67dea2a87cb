"""Waking workers: the web's wake-up is the very message Celery's send_task writes."""

from __future__ import annotations

import json
import logging

import pytest
import redis
from celery import Celery
from kombu import Connection

from bridge.dispatch import CeleryDispatcher, RedisPublisher
from tests.services import free_port

# Fields that are new for every message (ids, and the reply queue only send_task names).
PER_MESSAGE = {("headers", "id"), ("headers", "root_id"), ("properties", "correlation_id"),
               ("properties", "delivery_tag"), ("properties", "reply_to")}


def celery_for(broker_url: str, **conf) -> Celery:
    app = Celery("bridge-web", broker=broker_url)
    app.conf.update(conf)
    return app


def without_per_message_fields(raw: bytes) -> dict:
    message = json.loads(raw)
    for part, field in PER_MESSAGE:
        message[part].pop(field, None)
    return message


def test_wakeup_is_the_message_send_task_writes(fresh_redis_url):
    app = celery_for(fresh_redis_url)
    dispatcher = CeleryDispatcher(app)
    assert isinstance(dispatcher.publish, RedisPublisher)

    dispatcher.process_event(42)
    app.send_task("bridge.process_event", args=[42])

    client = redis.Redis.from_url(fresh_redis_url)
    ours, celerys = client.rpop("celery"), client.rpop("celery")  # oldest first
    assert client.llen("celery") == 0
    assert without_per_message_fields(ours) == without_per_message_fields(celerys)
    message = json.loads(ours)
    task_id = message["headers"]["id"]
    assert task_id and message["headers"]["root_id"] == task_id == message["properties"]["correlation_id"]
    assert message["properties"]["delivery_tag"] not in (task_id, json.loads(celerys)["properties"]["delivery_tag"])


@pytest.mark.parametrize("send", [
    lambda d: d.process_event(7),
    lambda d: d.deliver(7),
    lambda d: d.reconcile("conn_7"),
])
def test_a_kombu_consumer_reads_the_wakeup_as_celery_sent_it(fresh_redis_url, send):
    dispatcher = CeleryDispatcher(celery_for(fresh_redis_url))
    send(dispatcher)
    with Connection(fresh_redis_url) as connection:
        queue = connection.SimpleQueue("celery")
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    args, kwargs, _embed = message.payload
    assert message.headers["task"].startswith("bridge.") and kwargs == {}
    assert args == [7] or args == ["conn_7"]
    assert message.content_type == "application/json"


@pytest.mark.parametrize("broker, conf", [
    ("amqp://guest@localhost//", {}),
    ("redis://127.0.0.1:6379/0", {"task_routes": {"bridge.deliver": {"queue": "deliveries"}}}),
    ("redis://127.0.0.1:6379/0", {"broker_transport_options": {"global_keyprefix": "bridge:"}}),
    ("rediss://127.0.0.1:6379/0", {"broker_use_ssl": {"ssl_cert_reqs": "required"}}),
])
def test_what_the_publisher_cannot_route_goes_through_send_task(broker, conf):
    dispatcher = CeleryDispatcher(celery_for(broker, **conf))
    assert not isinstance(dispatcher.publish, RedisPublisher)


def test_a_wakeup_the_broker_cannot_take_is_logged_not_raised(caplog):
    dispatcher = CeleryDispatcher(celery_for(f"redis://127.0.0.1:{free_port()}/0"))  # nothing listens
    with caplog.at_level(logging.WARNING, logger="bridge.dispatch"):
        dispatcher.process_event(5)
    assert "could not enqueue bridge.process_event(5): ConnectionError" in caplog.text
