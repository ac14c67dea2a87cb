"""Configuration from the environment; the CLI and every process read the same.

docs/operations.md lists each variable; ../shared interface.md is the floor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from bridge.durations import parse_duration


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def default_database_url() -> str:
    var = Path(os.environ.get("BRIDGE_VAR_DIR", "var"))
    return f"sqlite:///{var.resolve() / 'bridge.db'}"


@dataclass(frozen=True)
class Config:
    database_url: str = field(default_factory=default_database_url)
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    admin_token: str | None = None
    allow_private_targets: bool = True
    retry_budget_seconds: float = 24 * 3600
    secret_key: str | None = None  # Fernet key for secrets at rest
    max_body_bytes: int = 1024 * 1024
    delivery_timeout_seconds: float = 10.0
    sweep_interval_seconds: float = 2.0
    requeue_after_seconds: float = 30.0  # a due row enqueued longer ago than this is woken again
    retention_seconds: float = 30 * 86400  # raw request bodies of settled events older than this are purged
    rate_limit: str = "2000/50"  # per connection: burst/per second (bridge.web.limits), or "off"
    address_rate_limit: str = "5000/100"  # per client address
    alert_webhook_url: str | None = None  # state changes are POSTed here (bridge.alerts)
    alert_interval_seconds: float = 30.0  # how often the sweeper looks for state changes
    # Receipt claims (bridge.claims): a person types a receipt, so a few tries
    # each, refilled slowly; a connection takes a busy evening's worth.
    claim_rate_limit: str = "300/1"  # per connection
    claim_address_rate_limit: str = "10/0.1"  # per client address: 10, then one every 10 s
    # The beat (and the embedded sweeper) reconciles connections every
    # `reconcile_every`; off: only `bridge reconcile` does (BRIDGE_RECONCILE=off).
    scheduled_reconcile: bool = True
    log_format: str = "text"  # or json: one JSON object per line, with event and connection ids
    embedded_workers: int = 4
    mount_sandbox: bool = True
    testing: bool = False

    @property
    def embedded(self) -> bool:
        """No broker configured: worker and sweeper run inside the web process."""
        return not self.redis_url

    @classmethod
    def from_env(cls, environ: os._Environ | dict | None = None, **overrides) -> "Config":
        env = os.environ if environ is None else environ
        redis_url = env.get("REDIS_URL") or None
        embedded = not redis_url
        config = cls(
            database_url=env.get("DATABASE_URL") or default_database_url(),
            redis_url=redis_url,
            public_url=(env.get("BRIDGE_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            admin_token=env.get("BRIDGE_ADMIN_TOKEN") or None,
            allow_private_targets=_flag(env.get("BRIDGE_ALLOW_PRIVATE_TARGETS"), embedded),
            retry_budget_seconds=parse_duration(env.get("BRIDGE_RETRY_BUDGET") or "24h"),
            secret_key=env.get("BRIDGE_SECRET_KEY") or None,
            max_body_bytes=int(env.get("BRIDGE_MAX_BODY_BYTES") or 1024 * 1024),
            delivery_timeout_seconds=parse_duration(env.get("BRIDGE_DELIVERY_TIMEOUT") or "10s"),
            sweep_interval_seconds=parse_duration(env.get("BRIDGE_SWEEP_INTERVAL") or "2s"),
            requeue_after_seconds=parse_duration(env.get("BRIDGE_REQUEUE_AFTER") or "30s"),
            retention_seconds=parse_duration(env.get("BRIDGE_RETENTION") or "30d"),
            rate_limit=env.get("BRIDGE_RATE_LIMIT") or "2000/50",
            address_rate_limit=env.get("BRIDGE_ADDRESS_RATE_LIMIT") or "5000/100",
            claim_rate_limit=env.get("BRIDGE_CLAIM_RATE_LIMIT") or "300/1",
            claim_address_rate_limit=env.get("BRIDGE_CLAIM_ADDRESS_RATE_LIMIT") or "10/0.1",
            mount_sandbox=_flag(env.get("BRIDGE_SANDBOX"), embedded),
            alert_webhook_url=env.get("BRIDGE_ALERT_WEBHOOK_URL") or None,
            scheduled_reconcile=_flag(env.get("BRIDGE_RECONCILE"), True),
            log_format=(env.get("BRIDGE_LOG_FORMAT") or "text").strip().lower(),
        )
        return replace(config, **overrides)
