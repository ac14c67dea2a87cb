"""`bridge connections check ID` and `bridge connections test ID --customer ...`.

Exit status: 0 when every check passed / the test was awarded; 1 when not;
2 for bad input (an unknown connection, a customer the core cannot match).
"""

from __future__ import annotations

import getpass

import click

from bridge.cli.base import Config, emit_json, open_db
from bridge.cli.connections import connections_group
from bridge.golive import run_check, run_test


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _mark(ok: bool) -> str:
    return click.style("✓", fg="green") if ok else click.style("✗", fg="red")


@connections_group.command("check")
@click.argument("connection_id")
@click.option("--json", "as_json", is_flag=True, help='print {"ok", "checks": [{"name", "ok", "detail", "fix"}]}')
@click.pass_obj
def connections_check(config: Config, connection_id, as_json):
    """Go-live checklist: core reachable and key accepted, vendor side set up. Awards nothing."""
    report = run_check(open_db(config), config, connection_id)
    if as_json:
        emit_json(report)
    else:
        for item in report["checks"]:
            click.echo(f"{_mark(item['ok'])} {item['name']}: {item['detail']}")
            if not item["ok"] and item["fix"]:
                click.echo(f"    fix: {item['fix']}")
        click.echo("ready to go live" if report["ok"] else "not ready: fix the items marked ✗ and check again")
    click.get_current_context().exit(0 if report["ok"] else 1)


@connections_group.command("test")
@click.argument("connection_id")
@click.option("--customer", required=True, metavar="EMAIL|PHONE|BARCODE",
              help="a test customer you created in the loyalty platform (phone in E.164: +61412345678)")
@click.option("--amount", default="1.00", show_default=True,
              help="in the connection's currency (USD if it has none)")
@click.option("--json", "as_json", is_flag=True,
              help='print {"ok", "status", "earned_points", "balance", "idempotency_key", "response"}')
@click.pass_obj
def connections_test(config: Config, connection_id, customer, amount, as_json):
    """Send one real, marked test transaction to the loyalty core and print what it awarded."""
    result = run_test(open_db(config), config, connection_id, customer, amount, actor=_actor())
    if as_json:
        emit_json(result)
    elif result["ok"]:
        points = "?" if result["earned_points"] is None else result["earned_points"]
        balance = "" if result["balance"] is None else f", new balance {result['balance']}"
        click.echo(f"{_mark(True)} test transaction of {result['amount']} delivered: {points} point(s) earned"
                   f"{balance}")
        click.echo(f"  event {result['event_id']}, idempotency key {result['idempotency_key']} "
                   f"(`bridge events show {result['event_id']}`)")
    else:
        click.echo(f"{_mark(False)} test transaction {result['status']}: {result['reason']}")
        click.echo(f"  event {result['event_id']} (`bridge events show {result['event_id']}`)")
    click.get_current_context().exit(0 if result["ok"] else 1)
