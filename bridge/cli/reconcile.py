"""`bridge reconcile`: the sales the vendor's API lists that no webhook brought."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bridge import connections, registry
from bridge.cli.base import Config, console, emit_json, err_console, main, open_db
from bridge.contract import ReconcileWindow
from bridge.dispatch import NullDispatcher
from bridge.durations import parse_duration
from bridge.errors import BridgeError, ConfigError, ReconcileUnavailable
from bridge.reconcile import Counts, Reconciler, Result
from bridge.search import parse_time
from bridge.store.tables import utcnow

DEFAULT_SINCE = "24h"
# A window holding more new sales than this is a backfill: asked before it is imported.
CONFIRM_ABOVE = 300


def interactive() -> bool:
    """Only a person at a terminal is asked; a script or cron job never waits on a prompt."""
    return sys.stdin.isatty()


def parse_since(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (a date or a naive time is UTC), or a duration back from now."""
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        return parse_time(text, "--since")
    except BridgeError:
        raise ConfigError(f"--since must be an ISO 8601 time (2026-10-01, 2026-10-01T09:00:00Z) "
                          f"or a duration back from now (90m, 24h, 30d), not {text!r}") from None


def window_of(since: str | None, until: str | None, now: datetime) -> ReconcileWindow:
    end = now
    if until:
        try:
            end = parse_time(until, "--until")
        except BridgeError:
            raise ConfigError(f"--until must be an ISO 8601 time such as 2026-12-01T09:00:00Z, not {until!r}") from None
    start = parse_since(since or DEFAULT_SINCE, now)
    if start >= end:
        raise ConfigError(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")
    return ReconcileWindow(start, end)


@main.command("reconcile")
@click.option("--connection", "connection_id", default=None, help="the connection to reconcile")
@click.option("--all", "every_connection", is_flag=True, help="every connection with vendor API credentials")
@click.option("--since", default=None, help=f"ISO 8601 time or duration back from now (default {DEFAULT_SINCE})")
@click.option("--until", default=None, help="ISO 8601 time (default now)")
@click.option("--dry-run", is_flag=True, help="count, store nothing")
@click.option("--yes", is_flag=True, help="do not ask before importing a large window")
@click.option("--json", "as_json", is_flag=True, help="one JSON object (--all: a list of them)")
@click.pass_obj
def reconcile_command(config: Config, connection_id, every_connection, since, until, dry_run, yes, as_json):
    """Find the vendor's sales that no webhook brought, and award them once.

    Every sale the vendor's API lists in the window goes through the same
    connector code as a webhook: a sale already known awards nothing more.
    """
    if bool(connection_id) == every_connection:
        raise click.UsageError("give --connection ID or --all")
    db = open_db(config)
    window = window_of(since, until, utcnow())
    reconciler = Reconciler(db, NullDispatcher(), config.public_url)
    if every_connection:
        ids = _reconcilable_ids(db)
        if not ids:
            err_console.print("no connection has vendor API credentials to reconcile with")
    else:
        ids = [connection_id]
    results = []
    for ident in ids:
        try:
            results.append(_reconcile_one(reconciler, ident, window, dry_run, yes, as_json))
        except ReconcileUnavailable as refused:
            if not every_connection:
                raise
            err_console.print(f"[yellow]{ident}:[/yellow] {refused.message}", highlight=False)
            results.append({"connection_id": ident, "status": "refused", "reason": refused.message})
    if as_json:
        emit_json(results if every_connection else results[0])
    if any(result["status"] != "finished" for result in results):
        sys.exit(1)


def _reconcilable_ids(db) -> list[str]:
    return [row.id for row in connections.list_rows(db)
            if row.vendor_token and row.status != "disabled" and row.vendor_token_rejected_at is None
            and registry.get(row.vendor).supports_reconcile]


def _reconcile_one(reconciler: Reconciler, connection_id: str, window: ReconcileWindow,
                   dry_run: bool, yes: bool, as_json: bool) -> dict:
    if not dry_run and not yes and interactive():
        counted = _with_progress(connection_id, "counting", lambda progress: reconciler.run(
            connection_id, window, dry_run=True, progress=progress))
        if counted.status == "finished" and counted.counts.new > CONFIRM_ABOVE:
            click.confirm(f"{connection_id}: {counted.counts.new} sales in the window are not known yet and "
                          "will be awarded. Import them?", abort=True)
    label = "counting" if dry_run else "reconciling"
    result = _with_progress(connection_id, label, lambda progress: reconciler.run(
        connection_id, window, dry_run=dry_run, progress=progress))
    if not as_json:
        _print(result, dry_run)
    return result.as_dict()


def _with_progress(connection_id: str, label: str, run) -> Result:
    columns = (SpinnerColumn(), TextColumn(f"{label} {connection_id}"),
               TextColumn("seen {task.fields[seen]} · known {task.fields[known]} · new {task.fields[new]} · "
                          "skipped {task.fields[skipped]} · errors {task.fields[errors]}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console) as bar:
        task = bar.add_task(label, total=None, **Counts().as_dict())

        def progress(counts: Counts) -> None:
            bar.update(task, **counts.as_dict())

        try:
            return run(progress)
        except ReconcileUnavailable:
            bar.stop()
            raise


def _print(result: Result, dry_run: bool) -> None:
    counts = result.counts
    verb = "would store" if dry_run else "stored and queued"
    console.print(f"{result.connection_id} {result.window.since.isoformat()} → {result.window.until.isoformat()}: "
                  f"{counts.seen} listed, {counts.known} already known, {counts.new} new ({verb}), "
                  f"{counts.skipped} skipped, {counts.errors} API errors", highlight=False)
    if result.status != "finished":
        err_console.print(f"[red]stopped:[/red] {result.reason}", highlight=False)
