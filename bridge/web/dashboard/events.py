"""Overview, the events list with every search filter, one event's story, and replaying it."""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for

from bridge import claims, connections, replay, views
from bridge.errors import BadFilter, NotFound
from bridge.search import STATUSES, EventFilter
from bridge.web.dashboard import queries
from bridge.web.dashboard.blueprint import bridge, dashboard
from bridge.web.dashboard.guard import actor

PAGE_SIZE = 50
# (query name, label, placeholder): the order the filter form shows them in.
FILTER_FIELDS = (
    ("email", "Customer email", "e.g. alice@example.com"),
    ("phone", "Customer phone", "e.g. +61412345678"),
    ("reference", "Receipt number", "e.g. Hx7k"),
    ("source_id", "Payment / sale / order id", ""),
    ("vendor_event_id", "Vendor event id", ""),
    ("since", "Received since (UTC)", "e.g. 2026-05-01 09:00"),
    ("until", "Received before (UTC)", "e.g. 2026-05-02 09:00"),
)
FILTER_NAMES = ("connection_id", "status", *(name for name, _, _ in FILTER_FIELDS))
FILTER_LABELS = {"connection_id": "Connection", "status": "Status", **{name: label for name, label, _ in FILTER_FIELDS}}
IN_PROGRESS = ("received", "pending")
NEXT_STEP = {
    "failed": "Fix the cause (a wrong key, a missing reward program, a connector fix), then replay. "
              "A replay never awards twice.",
    "unmatched": "The loyalty platform does not know this customer yet. Once they have signed up, replay.",
    "paused": "The connection is paused. Rotate its target key on the Connections page: held deliveries "
              "go out by themselves.",
    "skipped": "Nothing to award for this event. Replay only after a connector fix.",
    "pending": "Delivery is under way; transient failures are retried automatically.",
    "received": "Stored; the worker will process it within seconds.",
}


def filter_values(source) -> dict[str, str]:
    return {name: (source.get(name) or "").strip() for name in FILTER_NAMES}


def parse_filters(values: dict[str, str]) -> EventFilter:
    return EventFilter.from_strings({k: v or None for k, v in values.items()})


def form_context(values: dict[str, str]) -> dict:
    return {"filters": values, "filter_fields": FILTER_FIELDS, "filter_labels": FILTER_LABELS, "statuses": STATUSES,
            "connection_names": queries.connection_names(bridge().db)}


@dashboard.get("/")
def overview():
    since, summaries = queries.overview(bridge().db)
    return render_template("dashboard/overview.html", since=since, summaries=summaries,
                           vendors=queries.vendor_names())


@dashboard.get("/events")
def events():
    values = filter_values(request.args)
    cursor = (request.args.get("cursor") or "").strip() or None
    rows, next_cursor, error = [], None, None
    try:
        rows, next_cursor = views.list_events(bridge().db, parse_filters(values), limit=PAGE_SIZE, cursor=cursor)
    except BadFilter as problem:
        error = problem.message
    active = {k: v for k, v in values.items() if v}
    return render_template("dashboard/events.html", rows=rows, error=error, cursor=cursor,
                           next_url=url_for("dashboard.events", **active, cursor=next_cursor) if next_cursor else None,
                           first_url=url_for("dashboard.events", **active) if cursor else None,
                           active=active, vendors=queries.vendor_names(), **form_context(values)), \
        (400 if error else 200)


def _event_id(raw: str) -> int:
    if not raw.isdigit():
        raise NotFound(f"There is no event {raw!r}: event ids are whole numbers.")
    return int(raw)


def headline(event: dict, connection: dict | None) -> str:
    """The one line that says why the event is where it is."""
    if event["status"] == "paused" and connection and connection.get("status_reason"):
        return connection["status_reason"]
    if event.get("reason"):
        return event["reason"]
    return {"delivered": "Delivered to the loyalty platform.", "skipped": "Skipped: nothing to award.",
            "received": "Received; waiting to be processed.", "pending": "Waiting for delivery."}.get(
        event["status"], event["status"])


def pretty_body(body: dict) -> str:
    if body.get("encoding") != "utf-8":
        return body.get("text", "")
    try:
        return json.dumps(json.loads(body["text"]), indent=2, ensure_ascii=False)
    except (ValueError, TypeError):
        return body["text"]


@dashboard.get("/events/<event_id>")
def event_detail(event_id: str):
    number = _event_id(event_id)
    event = views.show_event(bridge().db, number)
    if event is None:
        raise NotFound(f"There is no event {number}. It may be on another bridge, or the id is mistyped.")
    with bridge().db.session() as session:
        row = connections.get(session, event["connection_id"])
    connection = None if row is None else {"id": row.id, "name": row.name, "status": row.status,
                                           "status_reason": row.status_reason}
    return render_template("dashboard/event.html", event=event, connection=connection,
                           headline=headline(event, connection), next_step=NEXT_STEP.get(event["status"]),
                           body=pretty_body(event["request"]["body"]), live=event["status"] in IN_PROGRESS,
                           vendors=queries.vendor_names())


@dashboard.post("/events/<event_id>/replay")
def replay_event(event_id: str):
    number = _event_id(event_id)
    if not replay.replay(bridge().db, bridge().dispatcher, [number], actor()):
        raise NotFound(f"There is no event {number}.")
    flash("Replay requested: the event is parsed again and sent under the same idempotency key, "
          "so it can never award twice. This page updates by itself.", "ok")
    return redirect(url_for("dashboard.event_detail", event_id=number))


@dashboard.post("/claims/<int:claim_id>/revoke")
def revoke_claim(claim_id: int):
    """Support takes back a claim not delivered yet (bridge.claims.revoke)."""
    event_id = _event_id(request.form.get("event_id", ""))
    try:
        claims.revoke(bridge().db, claim_id, actor())
    except (claims.ClaimNotRevocable, claims.UnknownClaim) as refused:
        flash(refused.message, "error")
    else:
        flash(f"Claim {claim_id} revoked: the sale is unmatched and can be claimed again.", "ok")
    return redirect(url_for("dashboard.event_detail", event_id=event_id))
