"""Embedded mode: the bridge, its worker threads, its sweeper and the sandbox
core in one process, on SQLite by default."""

from __future__ import annotations

from flask import Flask

from bridge.app import create_app
from bridge.config import Config
from bridge.store import Database


def start_embedded(config: Config) -> Flask:
    from worker.embedded import EmbeddedDispatcher, EmbeddedWorker

    db = Database(config.database_url, config.secret_key)
    db.upgrade()
    dispatcher = EmbeddedDispatcher()
    app = create_app(config, dispatcher=dispatcher, db=db)
    worker = EmbeddedWorker(config, db, dispatcher)
    worker.start()
    app.extensions["embedded_worker"] = worker
    return app
