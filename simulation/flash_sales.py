"""A scenario's flash sales: a hot SKU with little stock, the strategy that decides its orders, and the
cross-zone delays each strategy pays (strong's forward, escrow's rebalance, eventual's gossip).

Fields of `traffic.flash_sales[i]` beyond the sale itself (defaults in brackets):

- `strategy` [strong]: the primary strategy, which decides the orders; the others run in shadow.
- `cross_zone_ms` [80]: one cross-zone hop (strong forwards to the owner zone, an escrow rebalance lands).
- `gossip_interval_ms` [500]: eventual: every interval, each zone whose view changed sends it to every
  other zone; 0 sends it after every reservation or release instead.
- `gossip_delay_ms` [the sale's `cross_zone_ms`]: eventual: how long a gossip message takes to arrive.

Eventual oversells by at most the units the other zones grant within one staleness window (gossip
interval + gossip delay) before a grant; with both at 0 every zone always knows every sale and it
never oversells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulation.demand import Geography
from simulation.fields import ScenarioError, integer, mapping, name_list, number, text

STRATEGIES = ("strong", "escrow", "eventual")
_DAY_MS = 86_400_000.0


@dataclass(frozen=True)
class FlashSale:
    name: str
    sku: str
    start_s: float
    duration_s: float
    rate: float  # extra orders/s for the hot SKU while the sale is on
    stock: int
    quantity: int
    geographies: tuple[str, ...]
    strategy: str
    cross_zone_s: float = 0.08  # one cross-zone hop: strong forwards, escrow rebalances
    gossip_interval_s: float = 0.5  # eventual: each zone sends its view this often (0: on every change)
    gossip_delay_s: float = 0.08  # eventual: a gossip message's flight time between zones


_FIELDS = {
    "name",
    "sku",
    "start_s",
    "duration_s",
    "rate",
    "stock",
    "quantity",
    "geographies",
    "strategy",
    "cross_zone_ms",
    "gossip_interval_ms",
    "gossip_delay_ms",
}


def parse_flash_sales(value: Any, geos: Mapping[str, Geography]) -> tuple[FlashSale, ...]:
    if not isinstance(value, list):
        raise ScenarioError("traffic.flash_sales", "a list of flash sales")
    out = []
    for i, item in enumerate(value):
        at = f"traffic.flash_sales[{i}]"
        f = mapping(item, at, _FIELDS)
        strategy = text(f, "strategy", at, default="strong")
        if strategy not in STRATEGIES:
            raise ScenarioError(f"{at}.strategy", f"unknown strategy {strategy!r} ({', '.join(STRATEGIES)})")
        cross_zone_ms = number(f, "cross_zone_ms", at, default=80.0, hi=_DAY_MS)
        out.append(
            FlashSale(
                name=text(f, "name", at, default=f"flash-{i}"),
                sku=text(f, "sku", at),
                start_s=number(f, "start_s", at),
                duration_s=number(f, "duration_s", at, lo=0.0, lo_open=True),
                rate=number(f, "rate", at, lo=0.0, lo_open=True),
                stock=integer(f, "stock", at),
                quantity=integer(f, "quantity", at, default=1, lo=1),
                geographies=name_list(
                    f.get("geographies", list(geos)), f"{at}.geographies", geos, "geography"
                ),
                strategy=strategy,
                cross_zone_s=cross_zone_ms / 1000,
                gossip_interval_s=number(f, "gossip_interval_ms", at, default=500.0, hi=_DAY_MS) / 1000,
                gossip_delay_s=number(f, "gossip_delay_ms", at, default=cross_zone_ms, hi=_DAY_MS) / 1000,
            )
        )
    return tuple(out)
