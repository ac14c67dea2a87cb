"""The ingest CEILING: a bare Flask app that does the least a webhook receiver
must do — commit the raw body to the database — and nothing else.

    CEILING_DATABASE_URL=postgresql+psycopg://... gunicorn -w 2 --threads 4 bench.ceiling_app:app

Same gunicorn config, same database server (its own table, `bench_ceiling`)
and the same engine settings as the bridge (bridge.store.db.make_engine: pool
size, SQLite WAL/synchronous pragmas), so the gap to the bridge is the bridge's
own per-request work: connection lookup, signature check, JSON parse, the
events row with headers and indexes, the Redis enqueue, metrics.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from sqlalchemy import text

from bridge.store.db import make_engine

DATABASE_URL = os.environ.get("CEILING_DATABASE_URL") or os.environ["DATABASE_URL"]
engine = make_engine(DATABASE_URL)

if engine.dialect.name == "postgresql":
    DDL = "CREATE TABLE IF NOT EXISTS bench_ceiling (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)"
else:
    DDL = "CREATE TABLE IF NOT EXISTS bench_ceiling (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)"
INSERT = text("INSERT INTO bench_ceiling (body) VALUES (:body) RETURNING id")

try:
    with engine.begin() as connection:
        connection.execute(text(DDL))
except Exception:  # noqa: BLE001 - two gunicorn workers racing the CREATE: the other one made it
    pass

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@app.post("/hooks/<connection_id>")
def receive(connection_id: str):
    body = request.get_data()
    with engine.begin() as connection:  # one transaction, one INSERT, committed
        row_id = connection.execute(INSERT, {"body": body}).scalar_one()
    return jsonify({"status": "accepted", "event_id": row_id}), 202
