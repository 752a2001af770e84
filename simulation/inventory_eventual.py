"""`consistency.eventual_stock` in the simulator: each zone sells from its own view and gossips it to the
other zones, arriving one cross-zone delay later — so zones selling the last units at once oversell."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from consistency import eventual_stock


class EventualModel:
    """After each change in a zone, that zone's view is sent to every other zone (a message per pair,
    delivered after `cross_zone_s`); messages due by the time of a call are merged first."""

    name = "eventual"

    def __init__(self, stock: int, zones: Sequence[str], cross_zone_s: float) -> None:
        self.state = eventual_stock.new(stock, zones)
        self.zones = tuple(zones)
        self.cross_zone_s = cross_zone_s
        # Per (sender, receiver): messages in send order, which is due order (one fixed delay).
        self.inflight: dict[tuple[str, str], deque[tuple[float, eventual_stock.Gossip]]] = {
            (a, b): deque() for a in self.zones for b in self.zones if a != b
        }
        self.granted = self.refused = self.messages = 0

    def _deliver(self, now_s: float) -> None:
        for (_, receiver), queue in self.inflight.items():
            while queue and queue[0][0] <= now_s:
                due, message = queue.popleft()
                self.state = eventual_stock.merge(self.state, receiver, message, int(due * 1_000_000))

    def _gossip(self, zone: str, now_s: float) -> None:
        message = eventual_stock.gossip(self.state, zone)
        for other in self.zones:
            if other != zone:
                self.inflight[(zone, other)].append((now_s + self.cross_zone_s, message))
                self.messages += 1

    def reserve(self, zone: str, quantity: int, now_s: float) -> tuple[bool, float]:
        self._deliver(now_s)
        self.state, out = eventual_stock.reserve(self.state, zone, quantity, int(now_s * 1_000_000))
        if out.granted:
            self._gossip(zone, now_s)
        self.granted += out.granted
        self.refused += not out.granted
        return out.granted, 0.0  # no cross-zone call on the order's path: that is the point of it

    def release(self, zone: str, quantity: int, now_s: float) -> None:
        self._deliver(now_s)
        self.state, _ = eventual_stock.release(self.state, zone, quantity, int(now_s * 1_000_000))
        self._gossip(zone, now_s)

    def summary(self) -> dict[str, Any]:
        from simulation.inventory import summary_row  # inventory.py imports this module

        s = eventual_stock.summary(self.state)
        return summary_row(s, self.granted, self.refused, gossip_messages=self.messages)
