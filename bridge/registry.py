"""Connectors register themselves here; nothing else imports one by name."""

from __future__ import annotations

import importlib
import pkgutil

from bridge.contract import Connector

_connectors: dict[str, Connector] = {}
_aliases: dict[str, str] = {}
_loaded = False


def register(connector_class: type[Connector]) -> type[Connector]:
    instance = connector_class()
    _connectors[connector_class.slug] = instance
    for alias in connector_class.aliases:
        _aliases[alias] = connector_class.slug
    return connector_class


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    import connectors

    for module in pkgutil.iter_modules(connectors.__path__):
        if module.ispkg:
            importlib.import_module(f"connectors.{module.name}")
    _loaded = True


def canonical_slug(vendor: str) -> str | None:
    _load_all()
    vendor = vendor.strip().lower()
    slug = _aliases.get(vendor, vendor)
    return slug if slug in _connectors else None


def get(vendor: str) -> Connector:
    slug = canonical_slug(vendor)
    if slug is None:
        raise KeyError(vendor)
    return _connectors[slug]


def all_connectors() -> dict[str, Connector]:
    _load_all()
    return dict(_connectors)


def vendor_choices() -> list[str]:
    """Slugs and aliases, as the CLI offers them."""
    _load_all()
    return sorted(set(_connectors) | set(_aliases))
