"""Merchant connections: create, find, change, and the context connectors see."""

from __future__ import annotations

import json
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import phonenumbers
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bridge import egress, liveness, receipts, registry
from bridge.buckets import Rate
from bridge.contract import ConnectionContext
from bridge.durations import parse_duration
from bridge.errors import ConfigError
from bridge.money import normalize_currency
from bridge.store import Database
from bridge.store.sealing import mask
from bridge.store.tables import ConnectionRow, TransactionRow, utcnow
from bridge.throttle import parse_target_rate

TARGETS = ("xtarly", "cockato")
# Settings the core itself reads, whatever the vendor; connectors add their own.
CORE_SETTINGS = {
    "refunds": "skip (default) or negative: post completed refunds as negative amounts",
    "api_base_url": "where the vendor API client goes (tests and staging: a local fake)",
    "rate_limit": "ingest limit for this connection, BURST/PER_SECOND (default BRIDGE_RATE_LIMIT) or off",
    "quiet_after": "a receiving connection with no verified event for this long is quiet (default 24h; e.g. 6h)",
    "timezone": "the store's IANA time zone (e.g. Australia/Sydney): the local date on its receipts; default UTC",
    "claims": "on: customers claim an anonymous sale from its receipt at claim_url; default off",
    "claim_slug": "the claim URL's public name (a-z, 0-9, -); default random, never the connection id",
    "claim_days": "how many days after the sale a receipt can be claimed (default 14)",
    "signup_url": "the merchant's loyalty sign-up page, linked when the core does not know a claimant",
    "reconcile_every": "how often the vendor's API is read for sales no webhook brought "
                       "(a duration: 30s, 15m, 1h; default 15m; 0 turns it off)",
    "target_rate": "most requests the loyalty core takes, N/PERIOD like 1000/min, or off "
                   "(default: cockato 1000/min, xtarly off)",
}
CLAIM_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}[a-z0-9]")
DEFAULT_CLAIM_DAYS = 14
RECONCILE_EVERY_DEFAULT = "15m"


@dataclass(frozen=True)
class NewConnection:
    row: ConnectionRow
    generated_signing_key: str | None  # shown once, by the command that made it


def _keys_json(keys: list[dict]) -> str:
    return json.dumps(keys)


def _stored_keys(db: Database, row: ConnectionRow) -> list[dict]:
    """Signing keys, oldest first, each with when it was added."""
    return [entry if isinstance(entry, dict) else {"key": entry, "added_at": None}
            for entry in json.loads(db.sealer.open(row.signing_keys) or "[]")]


def _current_keys(keys: list[dict], grace_seconds: float | None) -> tuple[str, ...]:
    """Every key still valid: the newest, and older ones within the connector's
    grace period after the key that replaced them was added."""
    if grace_seconds is None:
        return tuple(entry["key"] for entry in keys)
    now = utcnow()
    valid = []
    for index, entry in enumerate(keys):
        successor = keys[index + 1] if index + 1 < len(keys) else None
        replaced_at = successor and successor.get("added_at")
        if successor is None or replaced_at is None or \
                (now - datetime.fromisoformat(replaced_at)).total_seconds() < grace_seconds:
            valid.append(entry["key"])
    return tuple(valid)


def webhook_url(public_url: str, connection_id: str) -> str:
    return f"{public_url.rstrip('/')}/hooks/{connection_id}"


def check_target_url(url: str, allow_private: bool) -> None:
    """Refuse URLs a loyalty core cannot have, and private networks unless allowed.

    The private-network rule stops a connection from being used to reach the
    bridge's own network (SSRF); embedded mode allows it for the sandbox.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"target URL must be http(s)://host/...: {url!r}")
    if allow_private:
        return
    try:
        egress.public_addresses(parts.hostname, parts.port or 443)
    except socket.gaierror:
        raise ConfigError(f"target host {parts.hostname!r} does not resolve") from None
    except egress.PrivateAddressRefused as refused:
        raise ConfigError(str(refused)) from None


def validate_settings(vendor: str, settings: dict[str, str]) -> dict[str, str]:
    known = {**CORE_SETTINGS, **registry.get(vendor).settings}
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown setting {', '.join(unknown)} for {vendor}; known: {', '.join(sorted(known))}")
    if settings.get("refunds", "skip") not in ("skip", "negative"):
        raise ConfigError("refunds must be skip or negative")
    try:
        Rate.parse(settings.get("rate_limit"))
        if "quiet_after" in settings:
            liveness.check_quiet_after(settings["quiet_after"])
        reconcile_every_seconds(settings)
        parse_target_rate(settings.get("target_rate"))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    receipts.zone(settings.get("timezone"))
    _check_claim_settings(settings)
    return settings


def _check_claim_settings(settings: dict[str, str]) -> None:
    if settings.get("claims", "off") not in ("on", "off"):
        raise ConfigError("claims must be on or off")
    slug = settings.get("claim_slug")
    if slug is not None and not CLAIM_SLUG.fullmatch(slug):
        raise ConfigError(f"claim_slug {slug!r}: use 3 to 64 lower-case letters, digits and dashes, like cafe-rio")
    days = settings.get("claim_days")
    if days is not None and (not str(days).isdigit() or not 1 <= int(days) <= 366):
        raise ConfigError("claim_days must be a whole number of days from 1 to 366")
    signup = settings.get("signup_url")
    if signup is not None and (urlsplit(signup).scheme not in ("http", "https") or not urlsplit(signup).hostname):
        raise ConfigError(f"signup_url must be an http(s):// address: {signup!r}")


def claims_on(row: ConnectionRow) -> bool:
    return (row.settings or {}).get("claims") == "on"


def claim_days(row: ConnectionRow) -> int:
    return int((row.settings or {}).get("claim_days") or DEFAULT_CLAIM_DAYS)


def claim_url(public_url: str, row: ConnectionRow) -> str | None:
    if not claims_on(row) or not row.claim_slug:
        return None
    return f"{public_url.rstrip('/')}/claim/{row.claim_slug}"


def _apply_claim_slug(session: Session, row: ConnectionRow) -> None:
    """Claims on: the connection gets its public slug, random unless one is
    chosen. The slug is its own identifier: the connection id is the secret
    webhook URL, and a claim URL is printed on receipts."""
    settings = dict(row.settings or {})
    chosen = settings.get("claim_slug")
    if chosen is None and not claims_on(row):
        return
    slug = chosen or row.claim_slug or _random_slug()
    if slug.lower() == row.id.lower():
        raise ConfigError("claim_slug must not be the connection id: the webhook URL is a secret")
    taken = session.scalar(select(ConnectionRow.id).where(ConnectionRow.claim_slug == slug,
                                                          ConnectionRow.id != row.id))
    if taken is not None:
        raise ConfigError(f"claim_slug {slug!r} is taken by another connection; choose another")
    row.claim_slug = slug
    settings["claim_slug"] = slug
    row.settings = settings


def _random_slug() -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: it is typed from paper
    return "".join(secrets.choice(alphabet) for _ in range(10))


def reconcile_every_seconds(settings: dict) -> float:
    """The connection's reconciliation interval; 0: off."""
    text = str(settings.get("reconcile_every") or RECONCILE_EVERY_DEFAULT)
    seconds = parse_duration(text)
    if 0 < seconds < 30:
        raise ValueError(f"reconcile_every must be 0 (off) or at least 30s, not {text!r}")
    return seconds


def create(db: Database, *, vendor: str, name: str, target: str, target_url: str,
           target_key: str, signing_keys: list[str], vendor_token: str | None = None,
           currency: str | None = None, country: str | None = None,
           settings: dict[str, str] | None = None, allow_private_targets: bool = False) -> NewConnection:
    slug = registry.canonical_slug(vendor)
    if slug is None:
        raise ConfigError(f"unknown vendor {vendor!r}; choose one of {', '.join(registry.vendor_choices())}")
    connector = registry.get(slug)
    if not name.strip():
        raise ConfigError("--name must not be empty")
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if not target_key.strip():
        raise ConfigError("--target-key must not be empty")
    check_target_url(target_url, allow_private_targets)
    generated = None
    keys = [key for key in signing_keys if key]
    if not keys and connector.requires_signing_key:
        if connector.generates_signing_key:
            generated = connector.new_signing_key()
            keys = [generated]
        else:
            raise ConfigError(f"{connector.display_name} signs its webhooks: pass --signing-key")
    added_at = utcnow().isoformat()
    stored_keys = [{"key": key, "added_at": added_at} for key in keys]
    if currency:
        currency = normalize_currency(currency)
    if country:
        country = country.upper()
        if country not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"unknown country code {country!r} (use ISO 3166 alpha-2, e.g. AU, US)")
    settings = validate_settings(slug, dict(settings or {}))
    connector.check_connection(ConnectionContext(
        id="new", vendor=slug, signing_keys=tuple(keys), vendor_token=vendor_token,
        currency=currency, country=country, settings=settings))
    row = ConnectionRow(
        id="con_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y"),
        name=name.strip(), vendor=slug, target_kind=target, target_url=target_url.rstrip("/"),
        target_key=db.sealer.seal(target_key.strip()),
        signing_keys=db.sealer.seal(_keys_json(stored_keys)),
        vendor_token=db.sealer.seal(vendor_token) if vendor_token else None,
        currency=currency, country=country,
        settings=settings, status="active",
    )
    with db.session() as session:
        _apply_claim_slug(session, row)
        session.add(row)
    return NewConnection(row=row, generated_signing_key=generated)


def get(session: Session, connection_id: str) -> ConnectionRow | None:
    return session.get(ConnectionRow, connection_id)


_connections = ConnectionRow.__table__
# What ingest and parsing read of a connection on every sale, as a plain row:
# loading the ORM object cost more CPU than the query.
READ_FOR_CONTEXT = select(
    _connections.c.id, _connections.c.vendor, _connections.c.status, _connections.c.signing_keys,
    _connections.c.vendor_token, _connections.c.currency, _connections.c.country, _connections.c.settings,
).where(_connections.c.id == bindparam("connection_id"))


def read(session: Session, connection_id: str):
    """The connection's id, vendor, status and what `context` needs; None if unknown."""
    return session.execute(READ_FOR_CONTEXT, {"connection_id": connection_id}).first()


def context(db: Database, row) -> ConnectionContext:
    """From a ConnectionRow or a row `read` returned."""
    grace = registry.get(row.vendor).signing_key_grace_seconds
    return ConnectionContext(
        id=row.id, vendor=row.vendor,
        signing_keys=_current_keys(_stored_keys(db, row), grace),
        vendor_token=db.sealer.open(row.vendor_token),
        currency=row.currency, country=row.country, settings=dict(row.settings or {}),
    )


def describe(db: Database, row: ConnectionRow, public_url: str) -> dict:
    """The connection as the CLI and API show it: secrets masked, with its
    state (bridge.liveness) and the one-sentence fix for it."""
    ctx = context(db, row)
    view = {
        "id": row.id, "name": row.name, "vendor": row.vendor,
        "webhook_url": webhook_url(public_url, row.id),
        "target": row.target_kind, "target_url": row.target_url,
        "target_key": mask(db.sealer.open(row.target_key)),
        "signing_key": mask(ctx.signing_keys[-1]) if ctx.signing_keys else None,
        "signing_keys": [mask(key) for key in ctx.signing_keys],  # those still valid, oldest first
        "vendor_token": mask(ctx.vendor_token),
        "currency": row.currency, "country": row.country, "settings": ctx.settings,
        "status": row.status, "status_reason": row.status_reason,
        "created_at": row.created_at.isoformat(),
        "quiet_after": ctx.setting("quiet_after") or liveness.DEFAULT_QUIET_AFTER,
        **liveness.liveness(db, row),
        **({"claim_url": url} if (url := claim_url(public_url, row)) else {}),
        "vendor_token_rejected_at": row.vendor_token_rejected_at.isoformat() if row.vendor_token_rejected_at else None,
        "vendor_token_rejection": row.vendor_token_rejection,
        **_reconcile_summary(db, row.id),
    }
    view["state_fix"] = liveness.fix_for(view["state"], row, view, registry.get(row.vendor).display_name)
    return view


def _reconcile_summary(db: Database, connection_id: str) -> dict:
    from bridge.reconcile import last_run, run_view

    run = last_run(db, connection_id)
    return {"last_reconcile_at": run.finished_at.isoformat() if run and run.finished_at else None,
            "last_reconcile": run_view(run) if run else None}


def set_settings(db: Database, connection_id: str, changes: dict[str, str]) -> ConnectionRow:
    with db.session() as session:
        row = _require(session, connection_id)
        merged = {**(row.settings or {}), **changes}
        settings = validate_settings(row.vendor, {k: v for k, v in merged.items() if v != ""})
        current = context(db, row)
        registry.get(row.vendor).check_connection(ConnectionContext(
            id=row.id, vendor=row.vendor, signing_keys=current.signing_keys, vendor_token=current.vendor_token,
            currency=row.currency, country=row.country, settings=settings))
        row.settings = settings
        _apply_claim_slug(session, row)
        return row


def rotate(db: Database, connection_id: str, *, target_key: str | None = None,
           signing_key: str | None = None, vendor_token: str | None = None) -> ConnectionRow:
    """Replace a key. A new target key resumes a paused connection: every
    delivery held by the pause is queued again, under its same idempotency key."""
    with db.session() as session:
        row = _require(session, connection_id)
        if target_key:
            row.target_key = db.sealer.seal(target_key.strip())
            if row.status == "paused":
                _resume(session, row, "resumed after the target key was rotated")
        if signing_key:
            # Keep the older keys: the vendor may still sign in-flight retries
            # with them (the connector's grace period says for how long).
            keys = [*_stored_keys(db, row), {"key": signing_key.strip(), "added_at": utcnow().isoformat()}]
            row.signing_keys = db.sealer.seal(_keys_json(keys[-8:]))
        if vendor_token:
            row.vendor_token = db.sealer.seal(vendor_token)
            # A new token is asked again: the next reconciliation resumes.
            row.vendor_token_rejected_at, row.vendor_token_rejection = None, None
        return row


def _resume(session: Session, row: ConnectionRow, reason: str) -> None:
    """Active again; every delivery held by the pause is queued, same keys."""
    row.status, row.status_reason, row.status_changed_at = "active", None, utcnow()
    session.execute(
        update(TransactionRow)
        .where(TransactionRow.connection_id == row.id, TransactionRow.status == "paused")
        .values(status="pending", next_attempt_at=utcnow(), lease_until=None, enqueued_at=None, reason=reason))


def set_status(db: Database, connection_id: str, status: str, actor: str) -> ConnectionRow:
    """pause / resume / disable, from support tools (a 401 pauses by itself)."""
    if status not in ("active", "paused", "disabled"):
        raise ConfigError("status must be active, paused or disabled")
    with db.session() as session:
        row = _require(session, connection_id)
        if status == "active" and row.status != "active":
            _resume(session, row, f"resumed by {actor}")
        elif status != row.status:
            row.status, row.status_changed_at = status, utcnow()
            row.status_reason = f"{'paused' if status == 'paused' else 'disabled'} by {actor}"
        return row


def pause(session: Session, connection_id: str, reason: str) -> None:
    row = session.get(ConnectionRow, connection_id)
    if row is not None and row.status == "active":
        row.status, row.status_reason, row.status_changed_at = "paused", reason, utcnow()


def _require(session: Session, connection_id: str) -> ConnectionRow:
    row = session.get(ConnectionRow, connection_id)
    if row is None:
        raise ConfigError(f"no connection {connection_id!r}")
    return row


def list_rows(db: Database) -> list[ConnectionRow]:
    with db.session() as session:
        return list(session.scalars(select(ConnectionRow).order_by(ConnectionRow.created_at)))
