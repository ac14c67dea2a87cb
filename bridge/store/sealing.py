"""Secrets at rest. With BRIDGE_SECRET_KEY (a Fernet key) set, signing keys,
target keys and vendor tokens are encrypted in the database; without it they
are stored as written, protected only by the database's own access control
(docs/operations.md says so)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from bridge.errors import ConfigError

_PLAIN = "plain:"
_FERNET = "fernet:"


class Sealer:
    def __init__(self, secret_key: str | None) -> None:
        try:
            self._fernet = Fernet(secret_key.encode()) if secret_key else None
        except ValueError:
            raise ConfigError(
                "BRIDGE_SECRET_KEY is not a Fernet key; make one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None

    def seal(self, value: str | None) -> str | None:
        if value is None:
            return None
        if self._fernet is None:
            return _PLAIN + value
        return _FERNET + self._fernet.encrypt(value.encode()).decode()

    def open(self, sealed: str | None) -> str | None:
        if sealed is None:
            return None
        if sealed.startswith(_PLAIN):
            return sealed[len(_PLAIN):]
        if sealed.startswith(_FERNET):
            if self._fernet is None:
                raise ConfigError("a secret in the store is encrypted but BRIDGE_SECRET_KEY is not set")
            try:
                return self._fernet.decrypt(sealed[len(_FERNET):].encode()).decode()
            except InvalidToken:
                raise ConfigError("a secret in the store was encrypted with another BRIDGE_SECRET_KEY") from None
        raise ConfigError("unreadable secret in the store")


def mask(secret: str | None) -> str | None:
    """Show only the last four characters, as the interface promises."""
    if not secret:
        return secret
    return "…" + secret[-4:] if len(secret) > 8 else "…"
