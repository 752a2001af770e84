"""One order against the stock of its zone: per line, the tier's visible ATP, the warehouse picks, then
the tenant's backorder verdict — the pure decision CreateOrder (and backorder re-allocation) applies.

Lines are planned in order against a running copy of the ATP, so two lines of one SKU never promise
the same units; nothing is held unless the backorder policy says so (`decide`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from consistency.allocation import (
    AllocationPolicy,
    LinePlan,
    Pick,
    Tier,
    Weights,
    choose_warehouses,
    visible_atp,
)
from consistency.backorder import BackorderDecision, BackorderPolicy, LineDemand, Outcome, decide
from consistency.stock import StockLevel, Warehouse, promisable_base, warehouse_atp
from ordermesh.status import OrderStatus

DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class OrderAllocation:
    decision: BackorderDecision
    picks: tuple[tuple[Pick, ...], ...]  # per line: where its held units come from (empty: none held)

    @property
    def outcome(self) -> Outcome:
        return self.decision.outcome


def allocate_order(
    lines: Sequence[tuple[str, int]],
    tier: Tier,
    zone: str,
    ship_from_region: str,
    warehouses: Mapping[str, Warehouse],
    levels: Mapping[str, Mapping[str, StockLevel]],
    inbound: Mapping[tuple[str, str], int],
    allocation: AllocationPolicy,
    backorder: BackorderPolicy,
    current: OrderStatus = OrderStatus.PENDING,
    distance: Mapping[tuple[str, str], int] | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    fixed: Mapping[int, int] | None = None,
) -> OrderAllocation:
    """`lines` are (sku, quantity); `levels[sku][warehouse]` the zone's stock rows; `inbound[(sku,
    warehouse)]` units due by now. Picks are kept only for the units the verdict holds.

    `fixed[line_no]` is the availability of a line decided elsewhere (a multi-zone pool's grant): it
    takes part in the verdict but gets no warehouse picks."""
    atp: dict[tuple[str, str], int] = {}
    for sku, by_wh in levels.items():
        for wh, level in by_wh.items():
            atp[(sku, wh)] = warehouse_atp(level, inbound.get((sku, wh), 0))
    candidates = [w for w in warehouses.values() if w.zone == zone]
    plans = []
    demands = []
    for line_no, (sku, quantity) in enumerate(lines):
        if fixed is not None and line_no in fixed:
            plans.append(LinePlan(sku, quantity, ()))
            demands.append(LineDemand(line_no, sku, quantity, min(quantity, max(0, fixed[line_no]))))
            continue
        stocked = levels.get(sku, {})
        sku_atp = {wh: atp.get((sku, wh), 0) for wh in stocked}
        base = sum(promisable_base(lv, inbound.get((sku, wh), 0)) for wh, lv in stocked.items())
        limit = visible_atp(allocation, tier, sum(sku_atp.values()), base)
        plan = choose_warehouses(
            sku, quantity, zone, ship_from_region, candidates, sku_atp, distance or {}, weights, True, limit
        )
        for pick in plan.picks:
            atp[(sku, pick.warehouse)] -= pick.quantity
        plans.append(plan)
        demands.append(LineDemand(line_no, sku, quantity, plan.allocated))
    decision = decide(backorder, demands, current)
    picks = tuple(plan.picks if held else () for plan, held in zip(plans, decision.hold, strict=True))
    return OrderAllocation(decision, picks)
