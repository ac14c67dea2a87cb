"""`bridge events ...` and `bridge replays ...`: find, explain, replay."""

from __future__ import annotations

import getpass
import json
import sys
import time

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich import box
from rich.table import Column, Table
from sqlalchemy import select

from bridge import replay, search, views
from bridge.cli.base import Config, console, emit_json, err_console, main, open_db
from bridge.search import EventFilter
from bridge.store import Database
from bridge.store.tables import EventRow, ReplayJobRow

@main.group(name="events")
def events_group():
    """Stored webhook events and what became of them."""


def filter_options(command):
    """The search filters, shared by `events list` and bulk `events replay`."""
    for option in reversed([
        click.option("--status", type=click.Choice(views.STATUSES), default=None),
        click.option("--connection", "connection_id", default=None),
        click.option("--vendor-event-id", default=None, help="the vendor's event id (Square event_id…)"),
        click.option("--source-id", default=None, help="payment / sale / check id"),
        click.option("--email", default=None, help="customer email"),
        click.option("--phone", default=None, help="customer phone (E.164)"),
        click.option("--reference", default=None, help="receipt number"),
        click.option("--since", default=None, help="received at or after (ISO 8601)"),
        click.option("--until", default=None, help="received before (ISO 8601)"),
    ]):
        command = option(command)
    return command


def _filter(**values) -> EventFilter:
    return EventFilter.from_strings(values)


@events_group.command("list")
@filter_options
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, search.MAX_LIMIT))
@click.option("--cursor", default=None, help="next_cursor from the previous page (--json prints it on stderr)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def events_list(config: Config, limit, cursor, as_json, **filters):
    """Newest first."""
    rows, next_cursor = views.list_events(open_db(config), _filter(**filters), limit=limit, cursor=cursor)
    if as_json:
        emit_json(rows)
        if next_cursor:
            err_console.print(f"next page: --cursor {next_cursor}", highlight=False)
        return
    # On a narrow terminal the reason wraps; what identifies a row does not. A
    # list of one connection's events names it once, above the table.
    connection_ids = sorted({row["connection_id"] for row in rows})
    several = len(connection_ids) > 1
    if len(connection_ids) == 1:
        console.print(f"connection {connection_ids[0]}", highlight=False)
    columns = [Column("id", no_wrap=True), Column("received (UTC)", no_wrap=True),
               *([Column("connection", no_wrap=True)] if several else []),
               Column("type", no_wrap=True, max_width=16, overflow="ellipsis"), Column("status", no_wrap=True),
               Column("tries", no_wrap=True, justify="right"), Column("reason", ratio=1)]
    table = Table(*columns, box=box.SIMPLE_HEAD)
    for row in rows:
        received = row["received_at"][5:19].replace("T", " ")  # 12-01 20:29:19
        table.add_row(str(row["id"]), received, *([row["connection_id"]] if several else []),
                      row["event_type"] or "", row["status"], str(row["attempts"]), row["reason"] or "")
    console.print(table)
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}", highlight=False)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@events_group.command("replay")
@click.argument("event_ids", nargs=-1, type=int)
@filter_options
@click.option("--dry-run", is_flag=True, help="only count what would be replayed")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--no-wait", is_flag=True, help="start the bulk job and return")
@click.pass_obj
def events_replay(config: Config, event_ids, dry_run, yes, no_wait, **filters):
    """Replay events by id, or in bulk by filter (the running workers do the work)."""
    db = open_db(config)
    flt = _filter(**filters)
    if event_ids:
        if flt.as_dict():
            raise click.UsageError("give event ids or filters, not both")
        found = replay.request_replay(db, list(event_ids), _actor())
        missing = sorted(set(event_ids) - set(found))
        if missing:
            err_console.print(f"no such event, or its raw request was purged (BRIDGE_RETENTION): "
                              f"{', '.join(map(str, missing))}")
        if found:
            console.print(f"replay requested for {len(found)} event(s); a running bridge picks them up within seconds")
            _report_replayed(db, found)
        sys.exit(1 if missing else 0)
    if not flt.as_dict():
        raise click.UsageError("give event ids, or at least one filter such as --status failed")
    with db.session() as session:
        matching = search.count(session, flt)
    console.print(f"{matching} event(s) match {json.dumps(flt.as_dict())}", highlight=False)
    if dry_run or matching == 0:
        return
    if not yes and sys.stdin.isatty():
        click.confirm(f"Replay {matching} event(s)?", abort=True)
    job = replay.start_job(db, flt, _actor())
    console.print(f"replay job {job.id} started", highlight=False)
    if not no_wait:
        _follow_job(db, job.id)


def _report_replayed(db: Database, event_ids: list[int], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(event_ids)
    while pending and time.monotonic() < deadline:
        time.sleep(0.5)
        with db.session() as session:
            for event in session.scalars(select(EventRow).where(EventRow.id.in_(pending))):
                if event.status not in ("received", "pending"):
                    console.print(f"event {event.id}: {event.status}: {event.reason or ''}", highlight=False)
                    pending.discard(event.id)
    for event_id in sorted(pending):
        console.print(f"event {event_id}: still in progress; see `bridge events show {event_id}`")


def _follow_job(db: Database, job_id: int) -> None:
    started, quiet_hint_shown = time.monotonic(), False
    with Progress(TextColumn("replay job {task.fields[job]}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(), console=console) as bar:
        task = None
        try:
            while True:
                with db.session() as session:
                    view = replay.job_view(session.get(ReplayJobRow, job_id))
                if task is None:
                    task = bar.add_task("replay", total=view["total"], job=job_id, failed=0)
                bar.update(task, completed=view["done"] + view["failed"], failed=view["failed"])
                if view["status"] != "running":
                    break
                if not quiet_hint_shown and view["done"] + view["failed"] == 0 and time.monotonic() - started > 10:
                    bar.console.print("no progress yet: is the bridge (or a worker) running?")
                    quiet_hint_shown = True
                time.sleep(0.5)
        except KeyboardInterrupt:
            console.print(f"detached; the job goes on. Stop it with `bridge replays cancel {job_id}`")
            return
    console.print(f"replay job {job_id} {view['status']}: {view['done']} done, {view['failed']} failed, "
                  f"{view['cancelled']} cancelled, of {view['total']}", highlight=False)


@events_group.command("show")
@click.argument("event_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def events_show(config: Config, event_id, as_json):
    """The raw request, the transactions parsed from it, every delivery attempt."""
    view = views.show_event(open_db(config), event_id)
    if view is None:
        raise click.ClickException(f"no event {event_id}")
    if as_json:
        emit_json(view)
        return
    console.print(f"[bold]event {view['id']}[/bold] {view['vendor']} {view['event_type'] or ''} "
                  f"status [bold]{view['status']}[/bold]: {view['reason'] or ''}", highlight=False)
    console.print(f"received {view['received_at']} from {view['request']['remote_addr']}, "
                  f"vendor event id {view['vendor_event_id']}", highlight=False)
    console.print_json(json.dumps(view["request"]["headers"]))
    console.print(view["request"]["body"]["text"][:4000], highlight=False, markup=False)
    for tx in view["transactions"]:
        console.print(f"\n[bold]transaction {tx['id']}[/bold] {tx['kind']} {tx['amount_minor']} {tx['currency']} "
                      f"({tx['source_id']}) → {tx['status']}: {tx['reason'] or ''}", highlight=False)
        for attempt in tx["delivery_attempts"]:
            console.print(f"  attempt {attempt['number']} {attempt['started_at'][:19]} "
                          f"{attempt['status_code'] or attempt['error_class']} {attempt['duration_ms']} ms "
                          f"{attempt['outcome']}: {attempt['reason']}", highlight=False)



@main.group(name="replays")
def replays_group():
    """Bulk replay jobs."""


@replays_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def replays_list(config: Config, as_json):
    db = open_db(config)
    with db.session() as session:
        jobs = [replay.job_view(job) for job in session.scalars(
            select(ReplayJobRow).order_by(ReplayJobRow.id.desc()).limit(100))]
    if as_json:
        emit_json(jobs)
        return
    table = Table("id", "status", "done", "failed", "remaining", "total", "by", "started", "filters")
    for job in jobs:
        table.add_row(str(job["id"]), job["status"], str(job["done"]), str(job["failed"]), str(job["remaining"]),
                      str(job["total"]), job["created_by"], job["created_at"][:19], json.dumps(job["filters"]))
    console.print(table)


@replays_group.command("show")
@click.argument("job_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def replays_show(config: Config, job_id, as_json):
    db = open_db(config)
    with db.session() as session:
        job = session.get(ReplayJobRow, job_id)
        if job is None:
            raise click.ClickException(f"no replay job {job_id}")
        view = replay.job_view(job)
    if as_json:
        emit_json(view)
    else:
        console.print_json(json.dumps(view))


@replays_group.command("cancel")
@click.argument("job_id", type=int)
@click.pass_obj
def replays_cancel(config: Config, job_id):
    try:
        job = replay.cancel_job(open_db(config), job_id, _actor())
    except replay.ReplayError as error:
        raise click.ClickException(str(error)) from None
    console.print(f"replay job {job_id}: {job.status}")

