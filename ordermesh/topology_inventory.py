"""The topology's inventory sections: warehouses of a region and a tenant's inventory policy (plain data).

    regions:
      eu-west: {endpoint: "127.0.0.1:7101", warehouses: {dub-1: {cost: 120, capacity: 5000}}}
    tenants:
      acme:
        inventory: {backorder: ship_partial, partial_threshold_bps: 5000,
                    allocation: tier_priority, holdback_bps: 2000, protected_tier: gold, hold_seconds: 900}

A tenant without `inventory` does not track stock: its orders are created without reservations. The
kernel keeps these as strings and integers; region_service turns them into consistency's policies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WAREHOUSE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
BACKORDER_MODES = ("reject", "backorder_all", "ship_partial")
ALLOCATION_MODES = ("fcfs", "tier_priority")
TIERS = ("standard", "silver", "gold", "platinum")  # index = consistency.allocation.Tier value
MAX_HOLD_SECONDS = 30 * 24 * 3600
POLICY_FIELDS = {
    "backorder", "partial_threshold_bps", "allocation", "holdback_bps", "protected_tier", "hold_seconds"
}  # fmt: skip


class InventoryConfigError(ValueError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class WarehouseSpec:
    """A stock location; it belongs to one region and so to that region's zone."""

    name: str
    region: str
    zone: str
    capacity: int | None = None  # units it can pick per window; None: unlimited
    cost: int = 0  # relative handling + shipping cost per unit (minor units); compared, never charged


@dataclass(frozen=True)
class InventoryPolicy:
    """How a tenant's orders meet stock: backorder policy, allocation policy, hold TTL."""

    backorder: str = "reject"
    partial_threshold_bps: int = 0
    allocation: str = "fcfs"
    holdback_bps: int = 0
    protected_tier: int = 2  # gold
    hold_seconds: int = 900


def parse_warehouses(raw: Any, at: str, region: str, zone: str) -> tuple[WarehouseSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise InventoryConfigError(at, "a mapping of warehouse name to {capacity, cost}")
    out = []
    for name, spec in raw.items():
        wat = f"{at}.{name}"
        if not isinstance(name, str) or not WAREHOUSE.fullmatch(name):
            raise InventoryConfigError(wat, "warehouse names are 2..32 of a-z 0-9 -, starting with a letter")
        spec = {} if spec is None else spec
        if not isinstance(spec, Mapping):
            raise InventoryConfigError(wat, "a mapping with optional capacity and cost")
        _known(spec, wat, {"capacity", "cost"})
        capacity = spec.get("capacity")
        if capacity is not None:
            capacity = _int(capacity, f"{wat}.capacity", 0, 1_000_000_000)
        cost = _int(spec.get("cost", 0), f"{wat}.cost", 0, 1_000_000_000)
        out.append(WarehouseSpec(name, region, zone, capacity, cost))
    return tuple(out)


def parse_policy(raw: Any, at: str) -> InventoryPolicy | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InventoryConfigError(at, "a mapping (backorder, allocation, hold_seconds, ...)")
    _known(raw, at, POLICY_FIELDS)
    backorder = _choice(raw.get("backorder", "reject"), f"{at}.backorder", BACKORDER_MODES)
    threshold = _int(raw.get("partial_threshold_bps", 0), f"{at}.partial_threshold_bps", 0, 10_000)
    if threshold and backorder != "ship_partial":
        raise InventoryConfigError(f"{at}.partial_threshold_bps", "applies to backorder: ship_partial only")
    allocation = _choice(raw.get("allocation", "fcfs"), f"{at}.allocation", ALLOCATION_MODES)
    holdback = _int(raw.get("holdback_bps", 0), f"{at}.holdback_bps", 0, 10_000)
    if holdback and allocation != "tier_priority":
        raise InventoryConfigError(f"{at}.holdback_bps", "applies to allocation: tier_priority only")
    tier = TIERS.index(_choice(raw.get("protected_tier", "gold"), f"{at}.protected_tier", TIERS))
    hold = _int(raw.get("hold_seconds", 900), f"{at}.hold_seconds", 1, MAX_HOLD_SECONDS)
    return InventoryPolicy(backorder, threshold, allocation, holdback, tier, hold)


def warehouses_document(warehouses: tuple[WarehouseSpec, ...]) -> dict[str, dict[str, int]]:
    """The YAML form of a region's warehouses (parse_warehouses reads it back)."""
    out: dict[str, dict[str, int]] = {}
    for w in warehouses:
        out[w.name] = {"cost": w.cost} if w.capacity is None else {"cost": w.cost, "capacity": w.capacity}
    return out


def policy_document(policy: InventoryPolicy) -> dict[str, Any]:
    """The YAML form of a tenant's inventory policy (parse_policy reads it back)."""
    return {
        "backorder": policy.backorder,
        "partial_threshold_bps": policy.partial_threshold_bps,
        "allocation": policy.allocation,
        "holdback_bps": policy.holdback_bps,
        "protected_tier": TIERS[policy.protected_tier],
        "hold_seconds": policy.hold_seconds,
    }


def _choice(value: Any, at: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InventoryConfigError(at, f"one of {', '.join(allowed)}")
    return str(value)


def _int(value: Any, at: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InventoryConfigError(at, f"an integer {low}..{high}")
    return value


def _known(raw: Mapping[str, Any], at: str, allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise InventoryConfigError(f"{at}.{unknown[0]}", f"unknown field (allowed: {known})")
