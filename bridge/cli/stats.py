"""`bridge stats`: the queue figures /metrics serves, for one connection or all."""

from __future__ import annotations

import click
from rich.table import Table

from bridge.cli.base import Config, console, emit_json, main, open_db
from bridge.stats import queue_figures

COLUMNS = {"events_unparsed": "unparsed events", "pending": "pending", "due": "due", "paused": "paused",
           "oldest_pending_age_seconds": "oldest pending (s)"}


@main.command("stats")
@click.option("--connection", "connection_id", default=None, help="one connection only")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def stats(config: Config, connection_id, as_json):
    """What is waiting: unparsed events, pending / due / paused deliveries, the
    oldest pending one's age, running bulk replays."""
    figures = queue_figures(open_db(config), connection_id)
    if as_json:
        emit_json(figures)
        return
    table = Table()
    table.add_column("connection", no_wrap=True)
    for title in COLUMNS.values():
        table.add_column(title, justify="right")
    for ident, row in sorted(figures["connections"].items()):
        table.add_row(ident, *(f"{row[name]:.0f}" for name in COLUMNS))
    if figures["connections"]:
        console.print(table)
    else:
        console.print("nothing waiting")
    for job in figures["replay_jobs"]:
        console.print(f"replay job {job['id']}: {job['done']} done, {job['failed']} failed of {job['total']}",
                      highlight=False)
