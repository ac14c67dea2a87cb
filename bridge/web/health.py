"""Liveness, readiness and metrics."""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from bridge.stats import LastEventAgeCollector, QueueCollector

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz():
    bridge = current_app.extensions["bridge"]
    checks = {}
    try:
        bridge.db.ping()
        checks["database"] = "ok"
    except Exception as error:  # any failure means not ready; say which kind
        checks["database"] = f"unavailable: {type(error).__name__}"
    checks["broker"] = bridge.dispatcher.ping()
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ready" if ready else "unavailable", "checks": checks}), 200 if ready else 503


@health.get("/metrics")
def metrics():
    """Counters of every process on this machine when PROMETHEUS_MULTIPROC_DIR is
    set (gunicorn workers and Celery workers write there); this process's own
    otherwise. Queue figures are read from the store at scrape time."""
    store = CollectorRegistry(auto_describe=True)
    store.register(QueueCollector(current_app.extensions["bridge"].db))
    store.register(LastEventAgeCollector(current_app.extensions["bridge"].db))
    return Response(generate_latest(_counters()) + generate_latest(store), mimetype=CONTENT_TYPE_LATEST)


def _counters():
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry

