"""The SimPy model: arrival ticks, c worker processes per region, failures and the client's retries.

Cost is about one SimPy event per order: arrivals are injected per tick in numpy blocks, and a
worker yields a single timeout per order (service + commit + contention retries, cut at the
propagated deadline). An order is a tuple (arrive, first_sent, sent, combo, attempt, hot, one_way).
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import simpy

from ordermesh.status import OrderStatus, can_transition
from ordermesh.topology import Topology
from simulation.cluster import FENCED, RESIDENCY, ZONE_DOWN, ClusterView
from simulation.inventory import StockModel, build_stock_models
from simulation.metrics import Code, Metrics
from simulation.scenario import Scenario
from simulation.traffic import TrafficModel

# The statuses an accepted CreateOrder walks through inside its transaction (real transition table).
ACCEPTED_PATH = ((OrderStatus.PENDING, OrderStatus.CONFIRMED), (OrderStatus.CONFIRMED, OrderStatus.ALLOCATED))
BLOCK = 16384
Order = tuple[float, float, float, int, int, int, float]
Progress = Callable[[float, float], None]
_ARRIVE = itemgetter(0)


@dataclass
class RegionState:
    index: int
    name: str
    zone: str
    workers: int
    rng: np.random.Generator
    queue: deque[Order] = field(default_factory=deque)
    idle: list[simpy.Event] = field(default_factory=list)
    down: bool = False
    generation: int = 0
    busy_s: float = 0.0
    in_service: int = 0
    pending: list[Order] = field(default_factory=list)  # routed here, still on the network; by arrival
    pos: int = 0
    _samples: list[list[float]] = field(default_factory=lambda: [[], []])


class Engine:
    """One simulation run of a scenario on a topology, reproducible from `seed`."""

    def __init__(
        self, topology: Topology, scenario: Scenario, seed: int, progress: Progress | None = None
    ) -> None:
        self.s, self.seed, self.progress = scenario, seed, progress
        seq = np.random.SeedSequence(seed)
        traffic_seed, retry_seed, *region_seeds = seq.spawn(2 + len(topology.regions))
        self.traffic = TrafficModel(scenario, np.random.default_rng(traffic_seed))
        self.retry_rng = random.Random(int(retry_seed.generate_state(1)[0]))
        self.view = ClusterView(topology, self.traffic.combos, scenario.placement)
        self.regions = [
            RegionState(
                i,
                name,
                self.view.region_zone[i],
                scenario.workers(name),
                np.random.default_rng(region_seeds[i]),
            )
            for i, name in enumerate(self.view.regions)
        ]
        geo = [c.geography for c in self.traffic.combos]
        self.one_way = np.array([[scenario.latency_s[g][r] for r in self.view.regions] for g in geo])
        zone_regions = [
            [i for i, z in enumerate(self.view.region_zone) if z == cz] for cz in self.view.combo_zone
        ]
        self.fast_fail = [
            2 * min((self.one_way[c, i] for i in regs), default=0.0) for c, regs in enumerate(zone_regions)
        ]
        # Bins cover the run plus the longest possible drain (capped: later events share the last bin).
        drain = scenario.retry.max_attempts * (scenario.deadline_s + scenario.retry.max_delay_s) + 1.0
        self.horizon = scenario.duration_s + min(drain, 600.0)
        self.metrics = Metrics(
            int(np.ceil(self.horizon / scenario.bin_s)) + 1,
            scenario.bin_s,
            len(self.regions),
            scenario.warmup_s,
            scenario.duration_s,
        )
        self.stock: list[list[StockModel]] = build_stock_models(scenario, self.view)
        self.retries: list[tuple[float, int, float, int, int, int]] = []
        self.refused: list[
            tuple[float, int, int, int]
        ] = []  # new orders the router refuses: (sent, combo, hot, code)
        self._routed_version = -1
        self._seq = 0
        self.injected = self.departed = 0
        self.env = simpy.Environment()

    # -- processes ------------------------------------------------------------------------------

    def run(self) -> Metrics:
        env = self.env
        for reg in self.regions:
            for _ in range(reg.workers):
                env.process(self._worker(reg))
        env.process(self._failures())
        env.process(self._monitor())
        done = env.process(self._arrivals())
        env.run(until=done)
        self.metrics.flush()
        return self.metrics

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        s, env = self.s, self.env
        ticks_per_block = max(1, round(s.bin_s / s.tick_s))
        block_end = 0.0
        while True:
            t = env.now
            self.metrics.sample_little(t, self.injected - self.departed)
            end = t + s.tick_s
            if t < s.duration_s - 1e-9:
                if t >= block_end - 1e-9:
                    n = min(ticks_per_block, int(np.ceil((s.duration_s - t) / s.tick_s - 1e-9)))
                    block_end = t + n * s.tick_s
                    self._load_block(t, n)
                elif self.view.version != self._routed_version:
                    self._reroute(t)
            elif not self.retries and not self.refused and self._idle_everywhere():
                return
            while self.retries and self.retries[0][0] < end:
                when, _, first, combo, attempt, hot = heapq.heappop(self.retries)
                self.metrics.count(when, Code.RETRY)
                self._inject_one(when, first, combo, attempt, hot)
            for reg in self.regions:
                if reg.pos < len(reg.pending) and reg.pending[reg.pos][0] < end:
                    self._release(reg, end)
            while self.refused and self.refused[0][0] < end:
                sent, combo, hot, code = heapq.heappop(self.refused)
                self._refused(sent, sent, combo, 1, hot, code)
            yield env.timeout(s.tick_s)

    def _worker(self, reg: RegionState) -> Generator[simpy.Event, Any, None]:
        env, q, deadline = self.env, reg.queue, self.s.deadline_s
        while True:
            if reg.down or not q:
                ev = env.event()
                reg.idle.append(ev)
                yield ev
                continue
            arrive, first, sent, combo, attempt, hot, ow = q.popleft()
            now = env.now
            start = arrive if arrive > now else now
            cutoff = sent + deadline - ow  # the client's deadline, propagated to the server
            if start >= cutoff:
                self.metrics.region_timeouts[reg.index] += sent >= self.s.warmup_s
                self._attempt_failed(sent + deadline, first, combo, attempt, hot, Code.ATTEMPT_TIMEOUT)
                continue
            svc = self._service(reg, hot)
            granted: list[StockModel] = []
            ok = True
            if hot:
                ok, extra = self._reserve(hot, combo, start, granted)
                svc += extra
            done = start + svc
            end = done if done < cutoff else cutoff
            gen = reg.generation
            reg.in_service += 1
            reg.busy_s += end - start
            yield env.timeout(end - now)
            reg.in_service -= 1
            if reg.generation != gen or done > cutoff:
                # The region died under the call, or the deadline cut it: the transaction rolled back.
                for model in granted:
                    model.release(
                        self.view.combo_zone[combo] or "", self.s.flash_sales[hot - 1].quantity, end
                    )
                self.metrics.region_timeouts[reg.index] += sent >= self.s.warmup_s
                self._attempt_failed(sent + deadline, first, combo, attempt, hot, Code.ATTEMPT_TIMEOUT)
                continue
            self.departed += 1
            if reg.zone != self.view.combo_zone[combo]:
                self.metrics.count(done, Code.RESIDENCY_VIOLATION)
            t_client = done + ow
            self.metrics.served(t_client, t_client - first, start - arrive, reg.index)
            if hot and not ok:
                self.metrics.count(t_client, Code.REJECTED_STOCK)
                continue
            for a, b in ACCEPTED_PATH:
                if not can_transition(a, b):
                    self.metrics.count(t_client, Code.INVALID_TRANSITION)
            self.metrics.count(t_client, Code.ACCEPTED)

    def _failures(self) -> Generator[simpy.Event, Any, None]:
        f = self.s.failures
        plan: list[tuple[float, int, str, str]] = []
        for o in f.outages:
            names = (
                [o.target]
                if o.kind == "region"
                else [r.name for r in self.view.topology.zones[o.target].regions]
            )
            for name in names:
                plan += [
                    (o.start_s, 0, "die", name),
                    (o.start_s + f.detection_s, 1, "detect", name),
                    (o.start_s + f.detection_s + f.promotion_s, 2, "promote", name),
                    (o.start_s + o.duration_s, 3, "recover", name),
                    (o.start_s + o.duration_s + f.detection_s, 4, "healthy", name),
                ]
        for when, _, action, name in sorted(plan):
            if when > self.env.now:
                yield self.env.timeout(when - self.env.now)
            reg = self.regions[self.view.region_index[name]]
            if action == "die":
                self._kill(reg)
            elif action == "detect":
                self.view.mark_down(name)
            elif action == "promote" and reg.down:
                self.view.promote_from(name)
            elif action == "recover":
                reg.down = False
                self._wake(reg, len(reg.idle))
            elif action == "healthy" and not reg.down:
                self.view.mark_up(name)

    def _monitor(self) -> Generator[simpy.Event, Any, None]:
        m, env = self.metrics, self.env
        last_busy = [0.0] * len(self.regions)
        while True:
            yield env.timeout(self.s.bin_s)
            b = min(int(env.now / self.s.bin_s) - 1, m.n_bins - 1)
            for reg in self.regions:
                m.queue[b, reg.index] = len(reg.queue)
                m.in_service[b, reg.index] = reg.in_service
                m.region_busy[b, reg.index] = reg.busy_s - last_busy[reg.index]
                last_busy[reg.index] = reg.busy_s
            if self.progress is not None:
                self.progress(env.now, self.s.duration_s)

    # -- helpers --------------------------------------------------------------------------------

    def _load_block(self, t: float, n_ticks: int) -> None:
        """Draws the next block of new orders, counts them, and routes them with the current view."""
        block = self.traffic.block(t, n_ticks)
        m = self.metrics
        m.count_many(block.times, Code.GENERATED)
        times, combos, hot = block.times, block.combos, block.hot
        if block.invalid.any():
            m.count_many(times[block.invalid], Code.REJECTED_VALIDATION)
            keep = ~block.invalid
            times, combos, hot = times[keep], combos[keep], hot[keep]
        self._route(times, combos, hot)

    def _route(self, times: np.ndarray, combos: np.ndarray, hot: np.ndarray) -> None:
        """Routes new orders (sent at `times`) by the memoised router.policy table of the current version."""
        self._routed_version = self.view.version
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

    def _reroute(self, now: float) -> None:
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
        self._route(
            np.array(sent, dtype=float), np.array(combos, dtype=np.int64), np.array(hots, dtype=np.int64)
        )

    def _release(self, reg: RegionState, end: float) -> None:
        """Moves the orders reaching the region before `end` into its queue (or times them out if dead)."""
        stop = bisect_left(reg.pending, end, lo=reg.pos, key=_ARRIVE)
        batch = reg.pending[reg.pos : stop]
        reg.pos = stop
        if reg.pos > 4096:
            del reg.pending[: reg.pos]
            reg.pos = 0
        if reg.down:  # the router does not know yet: every call times out at the client
            for _arrive, first, sent, combo, attempt, hot, _ow in batch:
                self._attempt_failed(
                    sent + self.s.deadline_s, first, combo, attempt, hot, Code.ATTEMPT_TIMEOUT, counted=False
                )
            return
        reg.queue.extend(batch)
        self.injected += len(batch)
        self._wake(reg, len(batch))

    def _inject_one(self, sent: float, first: float, combo: int, attempt: int, hot: int) -> None:
        dest = int(self.view.table()[combo])
        if dest == RESIDENCY:  # placement changes cannot change residency, but stay exact if they did
            self.metrics.count(sent, Code.REJECTED_RESIDENCY)
        elif dest < 0:
            self._refused(sent, first, combo, attempt, hot, dest)
        else:
            reg = self.regions[dest]
            if reg.down:  # the router does not know yet: the call times out at the client
                self._attempt_failed(
                    sent + self.s.deadline_s, first, combo, attempt, hot, Code.ATTEMPT_TIMEOUT, counted=False
                )
                return
            ow = float(self.one_way[combo, dest])
            reg.queue.append((sent + ow, first, sent, combo, attempt, hot, ow))
            self.injected += 1
            self._wake(reg, 1)

    def _refused(self, sent: float, first: float, combo: int, attempt: int, hot: int, code: int) -> None:
        kind = Code.ATTEMPT_ZONE_UNAVAILABLE if code == ZONE_DOWN else Code.ATTEMPT_FENCED
        at = sent if code == ZONE_DOWN else sent + self.fast_fail[combo]
        self._attempt_failed(at, first, combo, attempt, hot, kind, counted=False)

    def _attempt_failed(
        self, at: float, first: float, combo: int, attempt: int, hot: int, kind: Code, counted: bool = True
    ) -> None:
        """The client learns at `at` that an attempt failed: back off and retry, or give up."""
        if counted:
            self.departed += 1
        self.metrics.count(at, kind)
        if attempt < self.s.retry.max_attempts:
            self._seq += 1
            when = at + self.s.retry.delay(attempt, self.retry_rng)
            heapq.heappush(self.retries, (when, self._seq, first, combo, attempt + 1, hot))
            return
        final = {
            Code.ATTEMPT_TIMEOUT: Code.FAILED_DEADLINE,
            Code.ATTEMPT_ZONE_UNAVAILABLE: Code.FAILED_ZONE_UNAVAILABLE,
            Code.ATTEMPT_FENCED: Code.FAILED_FENCED,
        }[kind]
        self.metrics.count(at, final)

    def _kill(self, reg: RegionState) -> None:
        reg.down = True
        reg.generation += 1
        lost = list(reg.queue)
        reg.queue.clear()
        for _arrive, first, sent, combo, attempt, hot, _ow in lost:
            self._attempt_failed(sent + self.s.deadline_s, first, combo, attempt, hot, Code.ATTEMPT_TIMEOUT)

    def _wake(self, reg: RegionState, n: int) -> None:
        for _ in range(min(n, len(reg.idle))):
            reg.idle.pop().succeed()

    def _idle_everywhere(self) -> bool:
        return all(not r.queue and r.in_service == 0 and r.pos >= len(r.pending) for r in self.regions)

    def _service(self, reg: RegionState, hot: int) -> float:
        buf = reg._samples[1 if hot else 0]
        if not buf:
            buf.extend(self._sample_block(reg, bool(hot)).tolist())
        return buf.pop()

    def _sample_block(self, reg: RegionState, hot: bool) -> np.ndarray:
        svc, rng = self.s.service, reg.rng
        p = svc.hot_conflict_probability if hot else svc.conflict_probability
        conflicts = rng.geometric(1.0 - p, BLOCK) - 1 if p > 0 else np.zeros(BLOCK, dtype=np.int64)
        commits = svc.db_commit.sample(rng, BLOCK)
        extra = svc.db_commit.sample(rng, BLOCK) * conflicts + svc.conflict_backoff_s * conflicts
        return np.asarray(svc.app.sample(rng, BLOCK) + commits + extra)

    def _reserve(self, hot: int, combo: int, now: float, granted: list[StockModel]) -> tuple[bool, float]:
        """The primary strategy decides the order; the others run in shadow on the same demand."""
        zone = self.view.combo_zone[combo] or ""
        qty = self.s.flash_sales[hot - 1].quantity
        ok, extra = False, 0.0
        for i, model in enumerate(self.stock[hot - 1]):
            g, e = model.reserve(zone, qty, now)
            if g:
                granted.append(model)
            if i == 0:
                ok, extra = g, e
        return ok, extra
