"""Demo data: the orgs, keys and customers a newcomer sees points move on.

Each entry has the shape `POST /_sandbox/orgs` accepts (see README.md), and is
loaded through the same code. Functions return fresh lists so no caller can
change the seed for the next reset.
"""
from __future__ import annotations

from typing import Any

XTARLY_TIER_MULTIPLIERS = {"gold": "2", "silver": "1.5", "bronze": "1"}
POINTS_PROGRAM = {"type": "points", "currencyUnit": 100, "pointsPerCurrency": 1}


def xtarly_demo_customers() -> list[dict[str, Any]]:
    return [
        {"id": "cus_alice", "name": "Alice Martin", "email": "alice@example.com", "tier": "gold"},
        {"id": "cus_bob", "name": "Bob Chen", "email": "bob@example.com", "tier": "silver"},
    ]


def cockato_demo_customers() -> list[dict[str, Any]]:
    return [
        {"id": "cus_alice", "name": "Alice Martin", "barcode": "LOYAL-0001",
         "email": "alice@example.com", "phone": "+61412345678"},
        {"id": "cus_bob", "name": "Bob Chen", "barcode": "LOYAL-0002",
         "email": "bob@example.com", "phone": "+61400111222"},
    ]


def _xtarly_org(org: str, key: str, program: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {"api": "xtarly", "org": org, "key": key, "program": program,
            "customers": xtarly_demo_customers(), **extra}


def demo_org_specs() -> list[dict[str, Any]]:
    tiers_program = {**POINTS_PROGRAM, "type": "tiers", "tierMultipliers": XTARLY_TIER_MULTIPLIERS}
    return [
        _xtarly_org("demo-cafe", "xtarly_pos_demo", dict(POINTS_PROGRAM)),
        _xtarly_org("demo-stamps", "xtarly_pos_stamps", {"type": "stamps"}),
        _xtarly_org("demo-tiers", "xtarly_pos_tiers", tiers_program),
        _xtarly_org("demo-noprogram", "xtarly_pos_noprogram", None),
        # Takes negative amounts as refunds, for the bridge's refunds=negative setting.
        _xtarly_org("demo-negative", "xtarly_pos_negative", dict(POINTS_PROGRAM),
                    accepts_negative=True),
        {"api": "cockato", "org": "demo-bakery", "key": "cockato_demo", "country": "AU",
         "points_per_currency": 1, "rate_limit_per_minute": 1000,
         "customers": cockato_demo_customers()},
    ]
