"""The `bridge` command. Its flags and JSON fields are a public interface
(docs/interface.md): add freely, change nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.table import Table
from werkzeug.serving import WSGIRequestHandler, make_server

from bridge import connections, registry, views
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


def _db(config: Config) -> Database:
    db = Database(config.database_url, config.secret_key)
    db.upgrade()
    return db


def _emit_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@click.group(cls=BridgeGroup)
@click.pass_context
def main(ctx):
    """loyalty-bridge: POS webhooks in, loyalty points out."""
    ctx.obj = Config.from_env()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_obj
def run(config: Config, host: str, port: int):
    """Run the bridge. Without REDIS_URL: web, worker, sweeper and sandbox core in one process."""
    from dataclasses import replace

    if "BRIDGE_PUBLIC_URL" not in __import__("os").environ:
        config = replace(config, public_url=f"http://{host}:{port}")
    if config.embedded:
        from bridge.embedded import start_embedded

        app = start_embedded(config)
    else:
        from bridge.wsgi import make_app

        app = make_app()
    server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)
    base = config.public_url
    mode = ("embedded: SQLite, in-process worker and sweeper, sandbox core" if config.embedded
            else "web only: Celery workers over Redis do the work")
    click.echo(f"loyalty-bridge listening on {base}  ({mode})")
    click.echo(f"database: {config.database_url}")
    if config.mount_sandbox:
        click.echo(f"sandbox loyalty core: {base}/sandbox/  (open it to watch points arrive)")
        click.echo(f"""
Create a first connection, in another terminal:

  bridge connections add --vendor square --name "Demo Cafe" --target xtarly \\
    --target-url {base}/sandbox/xtarly --target-key xtarly_pos_demo \\
    --signing-key demo-signature-key --json

then post a signed sample sale and look:

  bridge send-fixture square payment.updated.completed --connection <id>
  bridge events list
""")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        worker = app.extensions.get("embedded_worker")
        if worker:
            worker.stop()


class QuietRequestHandler(WSGIRequestHandler):
    """Logs requests without their query string: a caller may have put a secret there."""

    def log_request(self, code="-", size="-"):
        self.log("info", '"%s %s" %s', self.command, self.path.split("?", 1)[0], code)


@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(config: Config):
    """Apply every migration (bridge run does this on start)."""
    _db(config)
    console.print("database is up to date")


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
    db = _db(config)
    made = connections.create(
        db, vendor=vendor, name=name, target=target, target_url=target_url, target_key=target_key,
        signing_keys=list(signing_keys), vendor_token=vendor_token, currency=currency, country=country,
        settings=_parse_settings(settings), allow_private_targets=config.allow_private_targets)
    view = connections.describe(db, made.row, config.public_url)
    if made.generated_signing_key:
        view["signing_key"] = made.generated_signing_key
    if as_json:
        _emit_json(view)
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
    db = _db(config)
    rows = [connections.describe(db, row, config.public_url) for row in connections.list_rows(db)]
    if as_json:
        _emit_json(rows)
        return
    table = Table("id", "name", "vendor", "target", "status", "webhook URL")
    for row in rows:
        table.add_row(row["id"], row["name"], row["vendor"], row["target"], row["status"], row["webhook_url"])
    console.print(table)


@connections_group.command("set")
@click.argument("connection_id")
@click.argument("pairs", nargs=-1, required=True)
@click.pass_obj
def connections_set(config: Config, connection_id, pairs):
    """Change connector settings (KEY=VALUE; an empty value removes the setting)."""
    db = _db(config)
    row = connections.set_settings(db, connection_id, _parse_settings(pairs))
    console.print(f"{row.id} settings: {json.dumps(row.settings)}", highlight=False)


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
    db = _db(config)
    row = connections.rotate(db, connection_id, target_key=target_key, signing_key=signing_key,
                             vendor_token=vendor_token)
    console.print(f"{row.id}: key rotated; status {row.status}")


@main.group(name="events")
def events_group():
    """Stored webhook events and what became of them."""


@events_group.command("list")
@click.option("--status", type=click.Choice(views.STATUSES), default=None)
@click.option("--connection", "connection_id", default=None)
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def events_list(config: Config, status, connection_id, limit, as_json):
    """Newest first."""
    rows = views.list_events(_db(config), status=status, connection_id=connection_id, limit=limit)
    if as_json:
        _emit_json(rows)
        return
    table = Table("id", "received", "connection", "type", "status", "attempts", "reason")
    for row in rows:
        table.add_row(str(row["id"]), row["received_at"][:19], row["connection_id"], row["event_type"] or "",
                      row["status"], str(row["attempts"]), row["reason"] or "")
    console.print(table)


@events_group.command("show")
@click.argument("event_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def events_show(config: Config, event_id, as_json):
    """The raw request, the transactions parsed from it, every delivery attempt."""
    view = views.show_event(_db(config), event_id)
    if view is None:
        raise click.ClickException(f"no event {event_id}")
    if as_json:
        _emit_json(view)
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


@main.command("send-fixture")
@click.argument("vendor")
@click.argument("fixture")
@click.option("--connection", "connection_id", required=True)
@click.option("--url", "base_url", default=None, help="the running bridge (default BRIDGE_PUBLIC_URL)")
@click.pass_obj
def send_fixture(config: Config, vendor, fixture, connection_id, base_url):
    """Sign a connector fixture as the vendor would and post it to a running bridge."""
    slug = registry.canonical_slug(vendor)
    if slug is None:
        raise click.BadParameter(f"unknown vendor {vendor!r}")
    path = fixture_path(slug, fixture)
    db = _db(config)
    with db.session() as session:
        row = connections.get(session, connection_id)
        if row is None:
            raise click.ClickException(f"no connection {connection_id!r}")
        context = connections.context(db, row)
    connector = registry.get(slug)
    body = connector.fixture_body(path.read_bytes().rstrip(b"\n"))
    url = connections.webhook_url(base_url or config.public_url, connection_id)
    signed_for = connections.webhook_url(config.public_url, connection_id)
    key = context.signing_keys[-1] if context.signing_keys else ""
    headers = connector.sign(body, signed_for, key, context)
    response = httpx.post(url, content=body, headers=headers, timeout=10)
    console.print(f"POST {url} → {response.status_code} {response.text.strip()}", highlight=False)
    if response.status_code >= 300:
        sys.exit(1)


def fixture_path(slug: str, name: str) -> Path:
    import connectors

    folder = Path(connectors.__path__[0]) / slug / "fixtures"
    path = folder / (name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.json")))
        raise click.BadParameter(f"no fixture {name!r} for {slug}; known: {known}")
    return path


if __name__ == "__main__":
    main()
