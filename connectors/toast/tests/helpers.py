"""What the Toast tests share: the fixtures' ids, connections, posting, mutations."""

from __future__ import annotations

from bridge import registry

toast = registry.get("toast")
RESTAURANT = "7f1c4a2e-93b5-4d1e-a6c2-0f8e5b3d9a14"
OTHER_RESTAURANT = "2b9d6e81-4c3a-47f0-b8e5-91a7c0d4f362"
ORDER = "a3c5e7f9-1b2d-4e6f-8a0c-2e4f6a8b0c1d"
CHECK = "c1a2b3c4-d5e6-47f8-9a0b-1c2d3e4f5a6b"
SECRET = "orders-secret"
TOAST_API = "https://toast-fake.test"


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def connect(harness, **kwargs):
    kwargs.setdefault("vendor", "toast")
    kwargs.setdefault("signing_keys", (SECRET,))
    kwargs.setdefault("currency", "USD")
    kwargs.setdefault("country", "US")
    return harness.add_connection(**kwargs)


def post(harness, connection, name, **kwargs):
    kwargs.setdefault("signing_key", SECRET)
    return harness.post_fixture(connection.id, name, vendor="toast", **kwargs)


def as_event(event_guid, change=None):
    def mutate(doc):
        doc["guid"] = event_guid
        if change:
            change(doc)
    return mutate


def first_check(doc):
    return doc["details"]["order"]["checks"][0]


def kinds(harness):
    return [(tx.kind, tx.source_id, tx.amount_minor, tx.status) for tx in harness.transactions()]
