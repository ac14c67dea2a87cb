"""Connections: list, create (the webhook URL and a generated secret shown
once), rotate a key, pause / resume / disable."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from bridge import connections, registry
from bridge.errors import ConfigError, NotFound
from bridge.web.dashboard import queries
from bridge.web.dashboard.blueprint import bridge, dashboard
from bridge.web.dashboard.guard import actor

KEY_KINDS = {"target_key": "Target key", "signing_key": "Signing key", "vendor_token": "Vendor API token"}
ACTIONS = {"pause": ("paused", "Paused: new events are stored, deliveries wait until you resume."),
           "resume": ("active", "Active again: held deliveries are on their way."),
           "disable": ("disabled", "Disabled: its webhook URL now answers 404 and nothing is delivered.")}
CREATE_FIELDS = ("vendor", "name", "target", "target_url", "target_key", "signing_key", "vendor_token",
                 "currency", "country")
SECRET_FIELDS = ("target_key", "signing_key", "vendor_token")


def _describe(row) -> dict:
    return connections.describe(bridge().db, row, bridge().config.public_url)


def _row(connection_id: str):
    with bridge().db.session() as session:
        row = connections.get(session, connection_id)
    if row is None:
        raise NotFound(f"There is no connection {connection_id}.")
    return row


def _vendors() -> list[tuple[str, object]]:
    return sorted(registry.all_connectors().items(), key=lambda item: item[1].display_name)


def _sandbox_urls() -> dict[str, str] | None:
    if not bridge().config.mount_sandbox:
        return None
    base = bridge().config.public_url.rstrip("/") + "/sandbox"
    return {"xtarly": f"{base}/xtarly", "cockato": f"{base}/cockato/pos-transaction"}


@dashboard.get("/connections")
def connections_page():
    rows = [_describe(row) for row in connections.list_rows(bridge().db)]
    return render_template("dashboard/connections.html", rows=rows, key_kinds=KEY_KINDS,
                           vendors=queries.vendor_names())


def _create_form(values: dict, error: str | None = None, status: int = 200):
    return render_template("dashboard/connection_new.html", values=values, error=error, vendors=_vendors(),
                           targets=connections.TARGETS, sandbox=_sandbox_urls()), status


@dashboard.get("/connections/new")
def new_connection():
    return _create_form({"vendor": "square", "target": "xtarly"})


@dashboard.post("/connections/new")
def create_connection():
    values = {name: (request.form.get(name) or "").strip() for name in CREATE_FIELDS}
    missing = [label for name, label in (("name", "a name"), ("target_url", "the target URL"),
                                         ("target_key", "the target key")) if not values[name]]
    if missing:
        return _create_form(_without_secrets(values), f"Fill in {' and '.join(missing)}.", 400)
    slug = registry.canonical_slug(values["vendor"] or "")
    if slug and not values["signing_key"]:
        connector = registry.get(slug)
        if connector.requires_signing_key and not connector.generates_signing_key:
            return _create_form(_without_secrets(values),
                                f"{connector.display_name} signs its webhooks: paste its signing key.", 400)
    try:
        made = connections.create(
            bridge().db, vendor=values["vendor"], name=values["name"], target=values["target"],
            target_url=values["target_url"], target_key=values["target_key"],
            signing_keys=[values["signing_key"]] if values["signing_key"] else [],
            vendor_token=values["vendor_token"] or None, currency=values["currency"] or None,
            country=values["country"] or None, allow_private_targets=bridge().config.allow_private_targets)
    except ConfigError as problem:
        return _create_form(_without_secrets(values), problem.message, 400)
    connector = registry.get(made.row.vendor)
    # Rendered, not redirected: the generated secret exists only in this response.
    return render_template("dashboard/connection_created.html", connection=_describe(made.row),
                           secret=made.generated_signing_key, vendor_name=connector.display_name), 201


def _without_secrets(values: dict) -> dict:
    return {k: v for k, v in values.items() if k not in SECRET_FIELDS}


@dashboard.post("/connections/<connection_id>/rotate")
def rotate_key(connection_id: str):
    row = _row(connection_id)
    kind, value = request.form.get("kind", ""), (request.form.get("value") or "").strip()
    if kind not in KEY_KINDS:
        flash("Choose which key to replace.", "error")
    elif not value:
        flash("Paste the new key before pressing Rotate.", "error")
    else:
        was_paused = row.status == "paused"
        connections.rotate(bridge().db, connection_id, **{kind: value})
        message = f"{KEY_KINDS[kind]} of “{row.name}” replaced."
        if kind == "target_key" and was_paused:
            message += " The connection is active again; held deliveries are on their way."
        elif kind == "target_key":
            message += " Failed events are not resent by themselves: replay them."
        flash(message, "ok")
    return redirect(url_for("dashboard.connections_page") + f"#{connection_id}")


@dashboard.post("/connections/<connection_id>/<any(pause, resume, disable):action>")
def change_status(connection_id: str, action: str):
    row = _row(connection_id)
    status, message = ACTIONS[action]
    connections.set_status(bridge().db, connection_id, status, actor())
    flash(f"“{row.name}”: {message}", "ok")
    return redirect(url_for("dashboard.connections_page") + f"#{connection_id}")
