"""`consistency.eventual_stock` in the simulator: each zone sells from its own view, and a gossip
process sends the views between zones — so zones selling the last units before they hear of each
other oversell, and the report measures by how much.

Gossip follows the sale's `gossip_interval_s` and `gossip_delay_s`: every interval, each zone that sold
or released since its last round sends its view to every other zone (interval 0: after every change),
and a message arrives one delay later; arrived messages are merged before a zone's next decision.
A zone's view is then at most one staleness window (interval + delay) old, which bounds the oversell:
it is at most the units the other zones granted within one window before a grant. The model tracks
that bound (`oversell_bound`) beside the measured oversell; with interval and delay 0 it is 0.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import simpy

from consistency import eventual_stock
from simulation.flash_sales import FlashSale
from simulation.stock_model import Background, summary_row, to_us


class EventualModel:
    name = "eventual"

    def __init__(self, sale: FlashSale, zones: Sequence[str]) -> None:
        self.state = eventual_stock.new(sale.stock, zones)
        self.zones = tuple(zones)
        self.interval_s, self.delay_s = sale.gossip_interval_s, sale.gossip_delay_s
        self.window_s = self.interval_s + self.delay_s
        # Per (sender, receiver): messages in send order, which is due order (one fixed delay).
        self.inflight: dict[tuple[str, str], deque[tuple[float, eventual_stock.Gossip]]] = {
            (a, b): deque() for a in self.zones for b in self.zones if a != b
        }
        self.changed: set[str] = set()  # zones with sales or releases not gossiped yet
        # The engine calls in time order only to within one arrival tick; this clock never runs back.
        self.clock = 0.0
        self.recent: deque[tuple[float, str, int]] = deque()  # grants within one window: (at, zone, units)
        self.recent_units = dict.fromkeys(self.zones, 0)
        self.bound = 0
        self.granted = self.refused = self.messages = 0

    def background(self, env: simpy.Environment) -> Background | None:
        return self._rounds(env) if self.interval_s > 0 else None  # interval 0: gossip on every change

    def _rounds(self, env: simpy.Environment) -> Background:
        while True:
            yield env.timeout(self.interval_s)
            now = self._tick(env.now)
            self._deliver(now)
            for zone in sorted(self.changed):  # sorted: the same messages in the same order every run
                self._gossip(zone, now)
            self.changed.clear()

    def _tick(self, now_s: float) -> float:
        self.clock = max(self.clock, now_s)
        return self.clock

    def _deliver(self, now_s: float) -> None:
        for (_, receiver), queue in self.inflight.items():
            while queue and queue[0][0] <= now_s:
                due, message = queue.popleft()
                self.state = eventual_stock.merge(self.state, receiver, message, to_us(due))

    def _gossip(self, zone: str, now_s: float) -> None:
        message = eventual_stock.gossip(self.state, zone)
        for other in self.zones:
            if other != zone:
                self.inflight[(zone, other)].append((now_s + self.delay_s, message))
                self.messages += 1

    def _changed(self, zone: str, now_s: float) -> None:
        if self.interval_s > 0:
            self.changed.add(zone)
        else:
            self._gossip(zone, now_s)

    def _track_bound(self, zone: str, quantity: int, now_s: float) -> None:
        """Units the other zones granted within one window before this grant: what `zone` may not know."""
        while self.recent and self.recent[0][0] <= now_s - self.window_s:
            _, z, units = self.recent.popleft()
            self.recent_units[z] -= units
        unseen = sum(self.recent_units.values()) - self.recent_units[zone]
        self.bound = max(self.bound, unseen)
        if self.window_s > 0:
            self.recent.append((now_s, zone, quantity))
            self.recent_units[zone] += quantity

    def reserve(self, zone: str, quantity: int, now_s: float) -> tuple[bool, float]:
        now = self._tick(now_s)
        self._deliver(now)
        self.state, out = eventual_stock.reserve(self.state, zone, quantity, to_us(now))
        if out.granted:
            self._track_bound(zone, quantity, now)
            self._changed(zone, now)
        self.granted += out.granted
        self.refused += not out.granted
        return out.granted, 0.0  # no cross-zone call on the order's path: that is the point of it

    def release(self, zone: str, quantity: int, now_s: float) -> None:
        now = self._tick(now_s)
        self._deliver(now)
        self.state, _ = eventual_stock.release(self.state, zone, quantity, to_us(now))
        self._changed(zone, now)

    def summary(self) -> dict[str, Any]:
        s = eventual_stock.summary(self.state)
        return summary_row(
            s,
            self.granted,
            self.refused,
            gossip_interval_ms=round(self.interval_s * 1000, 3),
            gossip_delay_ms=round(self.delay_s * 1000, 3),
            gossip_messages=self.messages,
            oversell_bound=self.bound,
        )
