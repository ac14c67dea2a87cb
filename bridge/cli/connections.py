"""`bridge connections ...`."""

from __future__ import annotations

import json

import click
from rich.table import Table

from bridge import connections, registry, rejections
from bridge.cli.base import Config, console, emit_json, main, open_db

@main.group(name="connections")
def connections_group():
    """Merchant connections: one webhook URL each."""


def _parse_settings(pairs: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        settings[key.strip()] = value.strip()
    return settings


@connections_group.command("add")
@click.option("--vendor", required=True, type=click.Choice(registry.vendor_choices(), case_sensitive=False))
@click.option("--name", required=True)
@click.option("--target", required=True, type=click.Choice(connections.TARGETS))
@click.option("--target-url", required=True)
@click.option("--target-key", required=True)
@click.option("--signing-key", "signing_keys", multiple=True, help="the secret the vendor issues (repeatable)")
@click.option("--vendor-token", default=None, help="credentials for the vendor's own API")
@click.option("--currency", default=None, help="ISO 4217 default where the vendor omits it")
@click.option("--country", default=None, help="ISO 3166 country for phones without a country code")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="connector setting")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def connections_add(config: Config, vendor, name, target, target_url, target_key, signing_keys,
                    vendor_token, currency, country, settings, as_json):
    """Create a connection and print the webhook URL to paste into the POS."""
    db = open_db(config)
    made = connections.create(
        db, vendor=vendor, name=name, target=target, target_url=target_url, target_key=target_key,
        signing_keys=list(signing_keys), vendor_token=vendor_token, currency=currency, country=country,
        settings=_parse_settings(settings), allow_private_targets=config.allow_private_targets)
    view = connections.describe(db, made.row, config.public_url)
    if made.generated_signing_key:
        view["signing_key"] = made.generated_signing_key
    if as_json:
        emit_json(view)
        return
    display = registry.get(view["vendor"]).display_name
    console.print(f"[green]created[/green] a {display} connection {view['id']} ({view['name']})", highlight=False)
    console.print(f"webhook URL: [bold]{view['webhook_url']}[/bold]", highlight=False)
    if made.generated_signing_key:
        console.print(f"signing secret (shown once): [bold]{made.generated_signing_key}[/bold]", highlight=False)


@connections_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def connections_list(config: Config, as_json):
    """Every connection, secrets masked."""
    db = open_db(config)
    rows = [connections.describe(db, row, config.public_url) for row in connections.list_rows(db)]
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "name", "vendor", "target", "state", "last event", "webhook URL")
    for row in rows:
        table.add_row(row["id"], row["name"], row["vendor"], row["target"], row["state"],
                      (row["last_event_at"] or "never")[:19], row["webhook_url"])
    console.print(table)


@connections_group.command("set")
@click.argument("connection_id")
@click.argument("pairs", nargs=-1, required=True)
@click.pass_obj
def connections_set(config: Config, connection_id, pairs):
    """Change connector settings (KEY=VALUE; an empty value removes the setting)."""
    db = open_db(config)
    row = connections.set_settings(db, connection_id, _parse_settings(pairs))
    console.print(f"{row.id} settings: {json.dumps(row.settings)}", highlight=False)
    if url := connections.claim_url(config.public_url, row):
        console.print(f"claim URL (for the receipt footer): {url}", highlight=False)


@connections_group.command("rotate-key")
@click.argument("connection_id")
@click.option("--target-key", default=None)
@click.option("--signing-key", default=None)
@click.option("--vendor-token", default=None)
@click.pass_obj
def connections_rotate(config: Config, connection_id, target_key, signing_key, vendor_token):
    """Replace a key; a new target key resumes a paused connection."""
    if not (target_key or signing_key or vendor_token):
        raise click.UsageError("give one of --target-key, --signing-key, --vendor-token")
    db = open_db(config)
    row = connections.rotate(db, connection_id, target_key=target_key, signing_key=signing_key,
                             vendor_token=vendor_token)
    console.print(f"{row.id}: key rotated; status {row.status}")



@connections_group.command("rejections")
@click.argument("connection_id")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 200))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def connections_rejections(config: Config, connection_id, limit, as_json):
    """Recent requests refused by signature verification, and why."""
    db = open_db(config)
    with db.session() as session:
        if connections.get(session, connection_id) is None:
            raise click.ClickException(f"no connection {connection_id!r}")
    rows = rejections.recent(db, connection_id, limit)
    if as_json:
        emit_json(rows)
        return
    summary = rejections.summary(db, connection_id)
    console.print(f"{summary['rejected_24h']} request(s) refused in the last 24 hours", highlight=False)
    table = Table("at", "from", "reason", "body")
    for row in rows:
        table.add_row(row["at"][:19], row["remote_addr"] or "", row["reason"], f"{row['body_size']} bytes")
    console.print(table)
