"""Read-only lookups the pages need beyond bridge.views: the overview's counts
and connection names for the event lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bridge import registry, views
from bridge.store import Database
from bridge.store.tables import ConnectionRow



@dataclass(frozen=True)
class ConnectionSummary:
    id: str
    name: str
    vendor: str
    status: str
    status_reason: str | None
    received: int
    delivered: int
    failed: int
    unmatched: int
    in_progress: int  # received, pending or held by a pause
    last_error: dict | None  # {"event_id", "reason", "at"}


def vendor_names() -> dict[str, str]:
    return {slug: connector.display_name for slug, connector in registry.all_connectors().items()}


def connection_names(db: Database) -> dict[str, str]:
    with db.session() as session:
        return dict(session.execute(select(ConnectionRow.id, ConnectionRow.name)).all())


def overview(db: Database, hours: int = 24) -> tuple[datetime, list[ConnectionSummary]]:
    since, entries = views.overview(db, hours)
    summaries = []
    for entry in entries:
        row, by_status = entry["connection"], entry["by_status"]
        summaries.append(ConnectionSummary(
            id=row.id, name=row.name, vendor=row.vendor, status=row.status, status_reason=row.status_reason,
            received=sum(by_status.values()), delivered=by_status.get("delivered", 0),
            failed=by_status.get("failed", 0), unmatched=by_status.get("unmatched", 0),
            in_progress=sum(by_status.get(s, 0) for s in ("received", "pending", "paused")),
            last_error=entry["last_error"]))
    return since, summaries
