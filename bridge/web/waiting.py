"""`?wait=N`: watch the store until the event's delivery is settled, so a till
can print the balance on the receipt. The request still never calls a core."""

from __future__ import annotations

import time

from bridge.store import Database
from bridge.store.tables import EventRow

# Zapier gives a webhook step 30 s; leave it room to read the answer.
MAX_WAIT_SECONDS = 25.0
SETTLED = {"delivered", "skipped", "unmatched", "failed", "paused"}


def wait_for_outcome(db: Database, event_id: int, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    interval = 0.05
    while True:
        with db.session() as session:
            event = session.get(EventRow, event_id)
            status, reason = event.status, event.reason
            results = [tx.result for tx in event.transactions if tx.result]
        if status in SETTLED or time.monotonic() >= deadline:
            break
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)
    outcome = {"delivery": {"status": status, "reason": reason, "settled": status in SETTLED}}
    if results:
        outcome["delivery"]["earned_points"] = results[0].get("earned_points")
        outcome["delivery"]["balance"] = results[0].get("balance")
        outcome["delivery"]["response"] = results[0].get("response")
    return outcome
