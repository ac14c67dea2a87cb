"""Replays: one event, a connector fix, bulk jobs with progress and cancel."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bridge import connections, replay
from bridge.contract import InboundRequest
from bridge.errors import PayloadError
from bridge.inbox import store_event
from bridge.search import EventFilter
from bridge.store.tables import AttemptRow, AuditRow, EventRow, ReplayItemRow
from tests.support import fixture_bytes


def test_replay_one_sends_again_under_the_same_key_and_keeps_history(harness):
    connection = harness.add_connection(target_key="xtarly_pos_noprogram")
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    [event] = harness.events()
    assert event.status == "failed"
    connections.rotate(harness.db, connection.id, target_key="xtarly_pos_demo")
    assert replay.replay(harness.db, harness.dispatcher, [event.id], "support:ana") == [event.id]
    harness.drain()
    assert harness.events()[0].status == "delivered"
    [award] = harness.ledger()
    with harness.db.session() as session:
        attempts = list(session.scalars(select(AttemptRow).order_by(AttemptRow.id)))
        audit = session.scalars(select(AuditRow)).one()
    assert [a.outcome for a in attempts] == ["failed", "delivered"]
    assert {a.request["headers"]["Idempotency-Key"] for a in attempts} == {award["idempotency_key"]}
    assert (audit.actor, audit.action, audit.subject_id) == ("support:ana", "replay", str(event.id))


def test_replaying_a_delivered_event_awards_nothing_more(harness):
    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    replay.replay(harness.db, harness.dispatcher, [harness.events()[0].id], "support")
    harness.drain()
    assert len(harness.ledger()) == 1
    assert harness.events()[0].status == "delivered"


def test_replay_after_a_connector_fix(harness, monkeypatch):
    from connectors.square import connector as square_module

    connection = harness.add_connection()
    harness.post_fixture(connection.id, "payment.updated.completed-jpy")  # delivered before the bug
    harness.drain()
    good = square_module.HANDLERS["payment.updated"]

    def broken_mapping(event, ctx):
        raise PayloadError("expected an object", path="data.object.payment.amount_money")

    monkeypatch.setitem(square_module.HANDLERS, "payment.updated", broken_mapping)
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()
    assert [e.status for e in harness.events()] == ["delivered", "failed"]
    assert "amount_money" in harness.events()[1].reason
    monkeypatch.setitem(square_module.HANDLERS, "payment.updated", good)  # the release with the fix
    job = replay.start_job(harness.db, EventFilter(connection_id=connection.id), "support")
    assert job.total == 2
    harness.dispatcher.replay_job(job.id)
    harness.drain()
    assert [e.status for e in harness.events()] == ["delivered", "delivered"]
    assert sorted(entry["amount"] for entry in harness.ledger()) == [1650, 1999]  # no second award


def _store_failed_sales(harness, connection_id: str, count: int) -> None:
    template = json.loads(fixture_bytes("square", "payment.updated.completed"))
    url = connections.webhook_url(harness.config.public_url, connection_id)
    for number in range(count):
        template["event_id"] = f"evt-{number}"
        template["data"]["object"]["payment"]["id"] = f"pay-{number}"
        body = json.dumps(template).encode()
        stored = store_event(harness.db, connection_id=connection_id, vendor="square",
                             vendor_event_id=f"evt-{number}",
                             request=InboundRequest(body=body, headers={}, url=url))
        harness.dispatcher.process_event(stored.event_id)
    harness.drain()


@pytest.mark.parametrize("count", [2000])
def test_bulk_replay_of_many_failed_events_counts_right(harness, count):
    connection = harness.add_connection(target_key="xtarly_pos_noprogram")
    _store_failed_sales(harness, connection.id, count)
    flt = EventFilter(status="failed")
    with harness.db.session() as session:
        assert session.scalar(select(EventRow.id).where(EventRow.status != "failed")) is None
    connections.rotate(harness.db, connection.id, target_key="xtarly_pos_demo")
    job = replay.start_job(harness.db, flt, "support")
    assert job.total == count
    harness.dispatcher.replay_job(job.id)
    steps = harness.drain()
    assert steps >= count // replay.CHUNK  # one chunk per step, back in the queue between
    with harness.db.session() as session:
        view = replay.job_view(session.get(type(job), job.id))
    assert (view["status"], view["done"], view["failed"], view["remaining"]) == ("finished", count, 0, 0)
    assert len(harness.ledger()) == count


def test_cancel_mid_way_leaves_no_event_half_done(harness):
    connection = harness.add_connection(target_key="xtarly_pos_noprogram")
    _store_failed_sales(harness, connection.id, 120)
    connections.rotate(harness.db, connection.id, target_key="xtarly_pos_demo")
    job = replay.start_job(harness.db, EventFilter(status="failed"), "support")
    harness.work.replay_job(job.id)  # one step: CHUNK events
    replay.cancel_job(harness.db, job.id, "support")
    harness.drain()
    with harness.db.session() as session:
        view = replay.job_view(session.get(type(job), job.id))
        states = [item.state for item in session.scalars(select(ReplayItemRow))]
        events = list(session.scalars(select(EventRow)))
    assert view["status"] == "cancelled" and view["done"] == replay.CHUNK
    assert view["cancelled"] == 120 - replay.CHUNK
    assert states.count("done") == replay.CHUNK and states.count("cancelled") == 120 - replay.CHUNK
    assert not [e for e in events if e.replay_requested or e.status in ("received", "pending")]
    assert len(harness.ledger()) == replay.CHUNK


def test_job_with_nothing_to_do_is_finished_at_once(harness):
    job = replay.start_job(harness.db, EventFilter(status="failed"), "support")
    assert (job.status, job.total) == ("finished", 0)


def test_retention_purges_old_settled_bodies_in_batches_and_keeps_the_record(harness, monkeypatch):
    from datetime import timedelta

    from sqlalchemy import update

    from bridge import retention
    from bridge.store.tables import utcnow

    monkeypatch.setattr(retention, "BATCH", 2)
    connection = harness.add_connection()
    for n in range(3):
        harness.post_fixture(connection.id, "payment.updated.completed",
                             mutate=lambda d, n=n: (d.update(event_id=f"old-{n}"),
                                                    d["data"]["object"]["payment"].update(id=f"pay-{n}")))
    harness.add_connection(name="paused", target_key="xtarly_pos_wrong")
    harness.drain()
    with harness.db.session() as session:
        session.execute(update(EventRow).values(received_at=utcnow() - timedelta(days=31)))
    assert retention.purge(harness.db, 30 * 86400) == 2  # one batch at a time
    assert retention.purge(harness.db, 30 * 86400) == 1
    assert retention.purge(harness.db, 30 * 86400) == 0
    events = harness.events()
    assert all(e.body == b"" and e.headers == {} and e.body_purged_at for e in events)
    assert [tx.status for tx in harness.transactions()] == ["delivered"] * 3  # the record stays
    assert replay.request_replay(harness.db, [events[0].id], "support") == []  # nothing left to parse


def test_retention_never_purges_what_may_still_be_worked_on(harness):
    from datetime import timedelta

    from sqlalchemy import update

    from bridge import retention
    from bridge.store.tables import utcnow

    connection = harness.add_connection(target_key="xtarly_pos_wrong")
    harness.post_fixture(connection.id, "payment.updated.completed")
    harness.drain()  # paused: waits for a key rotation
    with harness.db.session() as session:
        session.execute(update(EventRow).values(received_at=utcnow() - timedelta(days=90)))
    assert retention.purge(harness.db, 30 * 86400) == 0
    assert harness.events()[0].body
