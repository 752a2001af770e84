"""The routers forwarding orders to regions: new orders routed in blocks by the current route table,
kept in flight per region until they arrive, and routed again when health or placement changes.

Orders the router answers itself (zone unavailable, fenced) wait in `refused` until the moment
they were sent, and are then handed to the clients; residency refusals are final at once.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import itemgetter

import numpy as np

from simulation.client import Clients
from simulation.cluster import FENCED, RESIDENCY, ZONE_DOWN, ClusterView
from simulation.metrics import Code, Metrics
from simulation.region import RegionState

_ARRIVE = itemgetter(0)


class Forwarding:
    def __init__(
        self,
        view: ClusterView,
        regions: Sequence[RegionState],
        one_way: np.ndarray,
        metrics: Metrics,
        clients: Clients,
    ) -> None:
        self.view, self.regions, self.one_way = view, regions, one_way
        self.metrics, self.clients = metrics, clients
        self.refused: list[tuple[float, int, int, int]] = []  # new orders refused: (sent, combo, hot, code)
        self.routed_version = -1
        self.injected = 0  # orders that reached a region's queue

    def stale(self) -> bool:
        """Health or placement changed since the orders in flight were routed."""
        return self.view.version != self.routed_version

    def in_flight(self) -> bool:
        return bool(self.refused) or any(not reg.idle_now() for reg in self.regions)

    def route(self, times: np.ndarray, combos: np.ndarray, hot: np.ndarray) -> None:
        """Routes new orders (sent at `times`) by the memoised router.policy table of the current version."""
        self.routed_version = self.view.version
        dest = self.view.table()[combos]
        for reg in self.regions:
            mask = dest == reg.index
            if not mask.any():
                continue
            t, c, h = times[mask], combos[mask], hot[mask]
            ow = self.one_way[c, reg.index]
            arrive = t + ow
            order = np.argsort(arrive, kind="stable")
            tl = t[order].tolist()
            new = list(
                zip(
                    arrive[order].tolist(),
                    tl,
                    tl,
                    c[order].tolist(),
                    repeat(1),
                    h[order].tolist(),
                    ow[order].tolist(),
                )
            )
            rest = reg.pending[reg.pos :]
            reg.pending = rest + new
            if rest:
                reg.pending.sort()  # two sorted runs: a linear merge
            reg.pos = 0
        self.metrics.count_many(times[dest == RESIDENCY], Code.REJECTED_RESIDENCY)
        for code in (ZONE_DOWN, FENCED):
            sel = dest == code
            for item in zip(times[sel].tolist(), combos[sel].tolist(), hot[sel].tolist(), repeat(code)):
                heapq.heappush(self.refused, item)

    def reroute(self, now: float) -> None:
        """Health or placement changed: orders not yet sent are routed again by the new table."""
        sent: list[float] = []
        combos: list[int] = []
        hots: list[int] = []
        for reg in self.regions:
            keep = []
            for order in reg.pending[reg.pos :]:
                if order[2] >= now:
                    sent.append(order[2])
                    combos.append(order[3])
                    hots.append(order[5])
                else:
                    keep.append(order)
            reg.pending, reg.pos = keep, 0
        still = []
        for item in self.refused:
            if item[0] >= now:
                sent.append(item[0])
                combos.append(item[1])
                hots.append(item[2])
            else:
                still.append(item)
        heapq.heapify(still)
        self.refused = still
        self.route(
            np.array(sent, dtype=float), np.array(combos, dtype=np.int64), np.array(hots, dtype=np.int64)
        )

    def arrive(self, end: float) -> None:
        """Moves the orders reaching each region before `end` into its queue (or times them out if dead)."""
        for reg in self.regions:
            if reg.pos < len(reg.pending) and reg.pending[reg.pos][0] < end:
                self._arrive(reg, end)

    def _arrive(self, reg: RegionState, end: float) -> None:
        stop = bisect_left(reg.pending, end, lo=reg.pos, key=_ARRIVE)
        batch = reg.pending[reg.pos : stop]
        reg.pos = stop
        if reg.pos > 4096:
            del reg.pending[: reg.pos]
            reg.pos = 0
        if reg.down:  # the router does not know yet: every call times out at the client
            for _arrive, first, sent, combo, attempt, hot, _ow in batch:
                self.clients.timed_out(sent, first, combo, attempt, hot)
            return
        reg.queue.extend(batch)
        self.injected += len(batch)
        reg.wake(len(batch))

    def refused_before(self, end: float) -> Iterator[tuple[float, int, int, int]]:
        """Pops the refused new orders sent before `end`: (sent, combo, hot, code)."""
        while self.refused and self.refused[0][0] < end:
            yield heapq.heappop(self.refused)

    def send_one(self, sent: float, first: float, combo: int, attempt: int, hot: int) -> None:
        """A retry: routed by the current table at once."""
        dest = int(self.view.table()[combo])
        if dest == RESIDENCY:  # placement changes cannot change residency, but stay exact if they did
            self.metrics.count(sent, Code.REJECTED_RESIDENCY)
        elif dest < 0:
            self.clients.refused(sent, first, combo, attempt, hot, dest)
        else:
            reg = self.regions[dest]
            if reg.down:  # the router does not know yet: the call times out at the client
                self.clients.timed_out(sent, first, combo, attempt, hot)
                return
            ow = float(self.one_way[combo, dest])
            reg.queue.append((sent + ow, first, sent, combo, attempt, hot, ow))
            self.injected += 1
            reg.wake(1)
