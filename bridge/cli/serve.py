"""`bridge run`, `bridge db upgrade`, `bridge send-fixture`."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import click
import httpx
from werkzeug.serving import WSGIRequestHandler, make_server

from bridge import connections, registry
from bridge.cli.base import Config, console, main, open_db

@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_obj
def run(config: Config, host: str, port: int):
    """Run the bridge. Without REDIS_URL: web, worker, sweeper and sandbox core in one process."""
    if "BRIDGE_PUBLIC_URL" not in os.environ:
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
    click.echo(f"support dashboard: {base}/admin/   admin API: {base}/api/openapi.json")
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
    open_db(config)
    console.print("database is up to date")


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
    db = open_db(config)
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

