"""The `bridge` group, its console and its error handling."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from bridge.config import Config
from bridge.errors import BridgeError
from bridge.store import Database

console = Console()
err_console = Console(stderr=True)

class BridgeGroup(click.Group):
    """Turns the project's own errors into one clear line and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BridgeError as error:
            err_console.print(f"[red]error:[/red] {error.message}", highlight=False)
            sys.exit(2)


def open_db(config: Config) -> Database:
    db = Database(config.database_url, config.secret_key)
    db.upgrade()
    return db


def emit_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@click.group(cls=BridgeGroup)
@click.pass_context
def main(ctx):
    """loyalty-bridge: POS webhooks in, loyalty points out."""
    ctx.obj = Config.from_env()


