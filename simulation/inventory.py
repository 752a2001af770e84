"""Flash-sale stock in the simulator: a pluggable interface over the real strategies in `consistency/`.

Each hot-SKU order is decided by its sale's primary strategy (which sets the order's outcome and adds
its cross-zone latency) and offered to every other strategy in shadow, so one run reports oversell
per strategy (strong, escrow, eventual) on the same demand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import simpy

from consistency import escrow_stock, strong_stock
from consistency.zone_stock import Verdict
from simulation.cluster import ClusterView
from simulation.fields import ScenarioError
from simulation.flash_sales import FlashSale
from simulation.inventory_eventual import EventualModel
from simulation.scenario import Scenario
from simulation.stock_model import Background, StockModel, summary_row
from simulation.stock_model import to_us as _us

__all__ = ["EscrowModel", "EventualModel", "StockModel", "StrongModel", "build_stock_models", "summary_row"]


class StrongModel:
    """`consistency.strong_stock`: one count in the owner zone; other zones forward (one cross-zone RTT)."""

    name = "strong"

    def __init__(self, sale: FlashSale, zones: Sequence[str]) -> None:
        self.state = strong_stock.new(sale.stock, zones)
        self.cross_zone_s = sale.cross_zone_s
        self.granted = self.refused = self.forwarded = 0

    def _call(self, fn: Callable[..., Any], zone: str, quantity: int, now_s: float) -> tuple[bool, float]:
        state, out = fn(self.state, zone, quantity, _us(now_s))
        extra = 0.0
        if out.verdict is Verdict.FORWARD:
            self.forwarded += 1
            extra = self.cross_zone_s
            state, out = fn(self.state, out.forward_to, quantity, _us(now_s + extra))
        self.state = state
        return out.granted, extra

    def reserve(self, zone: str, quantity: int, now_s: float) -> tuple[bool, float]:
        ok, extra = self._call(strong_stock.reserve, zone, quantity, now_s)
        self.granted += ok
        self.refused += not ok
        return ok, extra

    def release(self, zone: str, quantity: int, now_s: float) -> None:
        self._call(strong_stock.release, zone, quantity, now_s)

    def background(self, env: simpy.Environment) -> Background | None:
        return None  # every decision is made on the order's path

    def summary(self) -> dict[str, Any]:
        return summary_row(
            strong_stock.summary(self.state), self.granted, self.refused, forwarded=self.forwarded
        )


class EscrowModel:
    """`consistency.escrow_stock`: per-zone quotas; a low zone's rebalance lands one cross-zone RTT later."""

    name = "escrow"

    def __init__(self, sale: FlashSale, zones: Sequence[str]) -> None:
        low = max(1, sale.stock // (20 * len(zones)))
        self.state = escrow_stock.new(sale.stock, zones, low_watermark=low)
        self.cross_zone_s = sale.cross_zone_s
        self.pending: dict[str, tuple[float, escrow_stock.Rebalance]] = {}
        self.token = 0
        self.granted = self.refused = self.rebalances = 0

    def _apply_due(self, now_s: float) -> None:
        for zone, (due, move) in list(self.pending.items()):
            if due <= now_s:
                self.token += 1  # each rebalance runs under a fresh lock: a new fencing token
                self.state, moved = escrow_stock.rebalance(self.state, move, self.token, _us(due))
                self.rebalances += moved > 0
                del self.pending[zone]

    def reserve(self, zone: str, quantity: int, now_s: float) -> tuple[bool, float]:
        self._apply_due(now_s)
        self.state, out = escrow_stock.reserve(self.state, zone, quantity, _us(now_s))
        if out.rebalance is not None and zone not in self.pending and out.rebalance.quantity > 0:
            move = escrow_stock.plan_rebalance(self.state, out.rebalance)
            if move is not None:
                self.pending[zone] = (now_s + self.cross_zone_s, move)
        self.granted += out.granted
        self.refused += not out.granted
        return out.granted, 0.0

    def release(self, zone: str, quantity: int, now_s: float) -> None:
        self._apply_due(now_s)
        self.state, _ = escrow_stock.release(self.state, zone, quantity, _us(now_s))

    def background(self, env: simpy.Environment) -> Background | None:
        return None  # a rebalance is applied lazily, once its cross-zone delay has passed

    def summary(self) -> dict[str, Any]:
        s = escrow_stock.summary(self.state)
        return summary_row(s, self.granted, self.refused, rebalances=self.rebalances)


Factory = Callable[[FlashSale, Sequence[str]], StockModel]
FACTORIES: dict[str, Factory] = {"strong": StrongModel, "escrow": EscrowModel, "eventual": EventualModel}


def available_strategies() -> dict[str, Factory]:
    """The strategies the simulator runs: every multi-zone strategy of `consistency/`."""
    return dict(FACTORIES)


def unavailable_strategies(names: Sequence[str]) -> list[str]:
    have = available_strategies()
    return [n for n in names if n not in have]


def sale_zones(scenario: Scenario, view: ClusterView, sale: int) -> list[str]:
    """The zones whose orders can buy a flash sale's SKU: those of its geographies' customers, sorted."""
    geos = set(scenario.flash_sales[sale].geographies)
    zones = {view.combo_zone[i] for i, c in enumerate(view.combos) if c.geography in geos}
    return sorted(z for z in zones if z is not None)


def build_stock_models(scenario: Scenario, view: ClusterView) -> list[list[StockModel]]:
    """Per flash sale: the primary strategy first, then every other available strategy in shadow."""
    have = available_strategies()
    out: list[list[StockModel]] = []
    for k, sale in enumerate(scenario.flash_sales):
        zones = sale_zones(scenario, view, k)
        if not zones:
            out.append([])
            continue
        if sale.strategy not in have:
            raise ScenarioError(
                f"traffic.flash_sales[{k}].strategy",
                f"{sale.strategy!r} is not available yet (available: {', '.join(sorted(have))})",
            )
        names = [sale.strategy, *sorted(n for n in have if n != sale.strategy)]
        out.append([have[n](sale, zones) for n in names if n in have])
    return out
