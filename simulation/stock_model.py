"""The interface between the simulator and a flash sale's stock strategy: what every adapter offers."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol

import simpy

from consistency.zone_stock import Summary

Background = Generator[simpy.Event, Any, None]


class StockModel(Protocol):
    name: str

    def reserve(self, zone: str, quantity: int, now_s: float) -> tuple[bool, float]:
        """(granted, extra seconds the reserving transaction spends on cross-zone calls)."""
        ...

    def release(self, zone: str, quantity: int, now_s: float) -> None: ...

    def background(self, env: simpy.Environment) -> Background | None:
        """The strategy's own process between orders (eventual's gossip rounds), if it has one."""
        ...

    def summary(self) -> dict[str, Any]: ...


def to_us(now_s: float) -> int:
    return int(now_s * 1_000_000)


def summary_row(s: Summary, granted: int, refused: int, **extra: Any) -> dict[str, Any]:
    """One strategy's line in the report: the strategy's own summary plus the simulator's counts."""
    row: dict[str, Any] = {"strategy": s.strategy, "stock": s.stock, "granted": granted, "refused": refused}
    row.update(held=s.held, free=s.free, oversold=s.oversold, **extra)
    return row
