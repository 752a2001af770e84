"""Allocation under constrained stock: who is served first (FCFS or tier priority with a holdback), and
from which warehouses of the order's zone a line ships (never from another zone: residency)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from consistency.stock import Warehouse
from ordermesh.errors import InvalidArgument
from ordermesh.order import MAX_QUANTITY

UNKNOWN_DISTANCE = 1_000_000  # a region pair missing from the table: usable, but last choice


class Tier(IntEnum):
    """Customer tier; higher is served first under tier priority."""

    STANDARD = 0
    SILVER = 1
    GOLD = 2
    PLATINUM = 3


class AllocationMode(StrEnum):
    FCFS = "fcfs"
    TIER_PRIORITY = "tier_priority"


@dataclass(frozen=True, slots=True)
class AllocationPolicy:
    """FCFS: everyone sees the whole ATP, in arrival order. Tier priority: tiers below `protected_tier`
    see ATP minus a holdback of `holdback_bps`/10000 of the promisable base, and batches are served
    highest tier first.

    The holdback is a share of the base (stock not yet shipped, ignoring holds), not of the current
    ATP: a share of ATP would shrink as lower tiers buy and let them drain the SKU (the nested booking
    limits of revenue management, after Littlewood).
    """

    mode: AllocationMode = AllocationMode.FCFS
    holdback_bps: int = 0
    protected_tier: Tier = Tier.GOLD

    def __post_init__(self) -> None:
        if not 0 <= self.holdback_bps <= 10_000:
            raise ValueError("holdback_bps must be 0..10000")
        if self.mode is AllocationMode.FCFS and self.holdback_bps:
            raise ValueError("FCFS holds nothing back; use tier_priority for a holdback")


FCFS = AllocationPolicy()


def tier_priority(holdback_bps: int = 2_000, protected_tier: Tier = Tier.GOLD) -> AllocationPolicy:
    return AllocationPolicy(AllocationMode.TIER_PRIORITY, holdback_bps, protected_tier)


def holdback_units(policy: AllocationPolicy, base: int) -> int:
    """Units kept for protected tiers: ceil(base * bps / 10000), integer arithmetic only."""
    return -(-max(0, base) * policy.holdback_bps // 10_000)


def visible_atp(policy: AllocationPolicy, tier: Tier, atp: int, base: int) -> int:
    """The ATP a customer of `tier` may take."""
    if policy.mode is AllocationMode.FCFS or tier >= policy.protected_tier:
        return max(0, atp)
    return max(0, atp - holdback_units(policy, base))


@dataclass(frozen=True, slots=True)
class Demand:
    """One order line waiting for units (a new order, or a backorder when stock arrives)."""

    order_id: str
    line_no: int
    tier: Tier
    quantity: int
    arrival: int  # arrival sequence or time; earlier is served first within a tier


def serving_order(policy: AllocationPolicy, demands: Sequence[Demand]) -> list[Demand]:
    if policy.mode is AllocationMode.FCFS:
        return sorted(demands, key=lambda d: (d.arrival, d.order_id, d.line_no))
    return sorted(demands, key=lambda d: (-d.tier, d.arrival, d.order_id, d.line_no))


def allocate_batch(
    policy: AllocationPolicy, demands: Sequence[Demand], atp: int, base: int
) -> dict[tuple[str, int], int]:
    """Units granted to each (order_id, line_no) out of `atp`, in serving order; a grant may be partial
    (the tenant's backorder policy decides what a partial grant becomes)."""
    left = max(0, atp)
    granted: dict[tuple[str, int], int] = {}
    for d in serving_order(policy, demands):
        take = min(d.quantity, visible_atp(policy, d.tier, left, base))
        granted[(d.order_id, d.line_no)] = take
        left -= take
    return granted


@dataclass(frozen=True, slots=True)
class Weights:
    """Warehouse score = distance * region distance (e.g. ms) + cost * unit cost; lower wins."""

    distance: int = 1
    cost: int = 1


@dataclass(frozen=True, slots=True)
class Pick:
    warehouse: str
    quantity: int


@dataclass(frozen=True, slots=True)
class LinePlan:
    sku: str
    requested: int
    picks: tuple[Pick, ...]

    @property
    def allocated(self) -> int:
        return sum(p.quantity for p in self.picks)

    @property
    def short(self) -> int:
        return self.requested - self.allocated


def region_distance(distance: Mapping[tuple[str, str], int], a: str, b: str) -> int:
    """Symmetric lookup in a distance/latency table; same region is 0, a missing pair UNKNOWN_DISTANCE."""
    if a == b:
        return 0
    found = distance.get((a, b))
    if found is None:
        found = distance.get((b, a), UNKNOWN_DISTANCE)
    return found


def choose_warehouses(
    sku: str,
    quantity: int,
    zone: str,
    ship_to_region: str,
    warehouses: Sequence[Warehouse],
    atp: Mapping[str, int],
    distance: Mapping[tuple[str, str], int],
    weights: Weights = Weights(),
    allow_split: bool = True,
    limit: int | None = None,
) -> LinePlan:
    """Where a line ships from: warehouses of `zone` only, best score first, each giving at most
    min(its ATP, its capacity), and all together at most `limit` (the tier's visible ATP).

    With `allow_split` the line is filled greedily across warehouses; without, the best-scoring
    warehouse that can fill it all, else the one that can fill most (a partial plan: `short` > 0).
    """
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidArgument.single("quantity", f"must be an integer 1..{MAX_QUANTITY}")
    need = quantity if limit is None else min(quantity, max(0, limit))
    scored: list[tuple[int, int, str]] = []
    for wh in warehouses:
        if wh.zone != zone:  # residency: another zone's warehouse is never a candidate
            continue
        fillable = max(0, atp.get(wh.name, 0))
        if wh.capacity is not None:
            fillable = min(fillable, max(0, wh.capacity))
        if fillable > 0:
            score = weights.distance * region_distance(distance, ship_to_region, wh.region)
            scored.append((score + weights.cost * wh.cost, fillable, wh.name))
    scored.sort(key=lambda s: (s[0], -s[1], s[2]))
    picks: list[Pick] = []
    if allow_split:
        for _, fillable, name in scored:
            if need <= 0:
                break
            take = min(need, fillable)
            picks.append(Pick(name, take))
            need -= take
    elif scored and need > 0:
        whole = [s for s in scored if s[1] >= need]
        _, fillable, name = whole[0] if whole else max(scored, key=lambda s: (s[1], -s[0]))
        picks.append(Pick(name, min(need, fillable)))
    return LinePlan(sku, quantity, tuple(picks))
