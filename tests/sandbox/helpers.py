"""Small request helpers shared by the sandbox tests (fixtures stay in each module)."""
from __future__ import annotations

XTARLY_DEMO = {"X-API-Key": "xtarly_pos_demo"}


def xtarly(client, body, key="xtarly_pos_demo", **headers):
    return client.post("/xtarly/transaction", json=body, headers={"X-API-Key": key, **headers})


def cockato(client, body, key="cockato_demo", **headers):
    return client.post("/cockato/pos-transaction", json=body, headers={"x-api-key": key, **headers})


def error_code(response):
    assert response.json["success"] is False
    return response.json["error"]["code"]
