"""Loyalty-core clients. Each turns a canonical transaction into one HTTP
request and reads the core's answer; none knows a vendor. Sending, timing and
classifying live in bridge.delivery and bridge.outcome."""

from __future__ import annotations

from bridge.clients.base import OutboundRequest, TargetClient
from bridge.clients.cockato import CockatoClient
from bridge.clients.xtarly import XtarlyClient

CLIENTS: dict[str, TargetClient] = {"xtarly": XtarlyClient(), "cockato": CockatoClient()}


def client_for(target_kind: str) -> TargetClient:
    return CLIENTS[target_kind]


__all__ = ["OutboundRequest", "TargetClient", "client_for", "CLIENTS"]
