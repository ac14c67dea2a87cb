"""The operator's alert webhook (BRIDGE_ALERT_WEBHOOK_URL): one POST per
change of a connection's state into quiet, rejecting or paused, and one when
it is receiving again; never one per sweep.

The state last announced is kept on the connection row (`announced_state`),
so a restart, or a second sweeper, announces nothing twice: a change is
claimed with a compare-and-set before it is sent, and given back if the POST
fails, so the next pass tries again. The body is Slack-compatible (`text`)
and carries the fields a script needs. Documented in docs/operations.md.
"""

from __future__ import annotations

import logging

import httpx
from sqlalchemy import update

from bridge import connections, liveness, registry
from bridge.store import Database
from bridge.store.tables import ConnectionRow

log = logging.getLogger("bridge.alerts")
ALERTING = frozenset({"quiet", "rejecting", "paused"})


def worth_announcing(previous: str | None, current: str) -> bool:
    return current != previous and (current in ALERTING or (current == "receiving" and previous in ALERTING))


def announce_changes(db: Database, url: str, public_url: str, http: httpx.Client) -> int:
    """Look at every connection once; returns how many alerts were sent."""
    sent = 0
    for row in connections.list_rows(db):
        view = {**liveness.liveness(db, row), "webhook_url": connections.webhook_url(public_url, row.id)}
        previous, current = row.announced_state, view["state"]
        if current == previous or not _claim(db, row.id, previous, current):
            continue
        if not worth_announcing(previous, current):
            continue  # e.g. waiting → receiving: remembered, so a later change has its true previous state
        try:
            http.post(url, json=alert_body(row, view, previous)).raise_for_status()
            sent += 1
        except httpx.HTTPError as error:
            log.warning("alert for %s (%s → %s) not delivered, will retry: %s",
                        row.id, previous, current, type(error).__name__)
            _claim(db, row.id, current, previous)
    return sent


def alert_body(row: ConnectionRow, view: dict, previous: str | None) -> dict:
    vendor_name = registry.get(row.vendor).display_name
    state = view["state"]
    fix = liveness.fix_for(state, row, view, vendor_name)
    if state == "receiving":
        text = f"✅ {row.name} ({vendor_name}, {row.id}) is receiving again (last event {view['last_event_at']})."
    else:
        text = f"⚠️ {row.name} ({vendor_name}, {row.id}) is {state} (was {previous or 'unknown'}). {fix}"
    return {"text": text, "connection_id": row.id, "name": row.name, "vendor": row.vendor, "state": state,
            "previous_state": previous, "fix": fix, "last_event_at": view["last_event_at"],
            "last_rejection": view["last_rejection"]}


def _claim(db: Database, connection_id: str, previous: str | None, current: str | None) -> bool:
    """Compare-and-set `announced_state`: only one sweeper wins a change."""
    unchanged = (ConnectionRow.announced_state.is_(None) if previous is None
                 else ConnectionRow.announced_state == previous)
    with db.session() as session:
        return session.execute(update(ConnectionRow).where(ConnectionRow.id == connection_id, unchanged)
                               .values(announced_state=current)).rowcount == 1
