"""`bridge claims list` and `bridge claims revoke ID`: receipt claims for support."""

from __future__ import annotations

import getpass

import click
from rich.table import Table

from bridge import claims, views
from bridge.cli.base import Config, console, emit_json, main, open_db


@main.group(name="claims")
def claims_group():
    """Receipt claims (connections with claims=on)."""


@claims_group.command("list")
@click.option("--connection", "connection_id", help="only this connection's claims")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True,
              help='print [{"id", "transaction_id", "at", "remote_addr", "receipt", "identity", "outcome", ...}]')
@click.pass_obj
def claims_list(config: Config, connection_id, limit, as_json):
    """The newest claim attempts, every outcome; identities masked."""
    rows = views.list_claims(open_db(config), connection_id, limit)
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "at", "outcome", "receipt", "identity", "from", "transaction")
    for row in rows:
        table.add_row(str(row["id"]), row["at"][:19], row["outcome"], row["receipt"] or "",
                      row["identity"] or "", row["remote_addr"] or "", str(row["transaction_id"] or ""))
    console.print(table)


@claims_group.command("revoke")
@click.argument("claim_id", type=int)
@click.pass_obj
def claims_revoke(config: Config, claim_id):
    """Take back a claim whose sale is not delivered yet: the sale is unmatched (claimable) again."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    try:
        claims.revoke(open_db(config), claim_id, f"cli:{user}")
    except (claims.ClaimNotRevocable, claims.UnknownClaim) as refused:
        raise click.ClickException(refused.message) from None
    console.print(f"claim {claim_id} revoked: its sale is unmatched and claimable again")
