"""The SimPy model: arrival ticks, c worker processes per region, failures and the client's retries.

Cost is about one SimPy event per order: arrivals are injected per tick in numpy blocks, and a
worker yields a single timeout per order (service + commit + contention retries, cut at the
propagated deadline). An order is a tuple (arrive, first_sent, sent, combo, attempt, hot, one_way);
the regions (`region`), the routers' forwarding (`forwarding`) and the clients' retries (`client`)
are their own modules, and this one runs them as processes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from ordermesh.status import OrderStatus, can_transition
from ordermesh.topology import Topology
from simulation.client import Clients
from simulation.cluster import ClusterView
from simulation.forwarding import Forwarding
from simulation.inventory import StockModel, build_stock_models
from simulation.metrics import Code, Metrics
from simulation.outages import DETECT, DIE, HEALTHY, PROMOTE, RECOVER, failure_plan
from simulation.region import Order, RegionState
from simulation.scenario import Scenario
from simulation.traffic import TrafficModel

# The statuses an accepted CreateOrder walks through inside its transaction (real transition table).
ACCEPTED_PATH = ((OrderStatus.PENDING, OrderStatus.CONFIRMED), (OrderStatus.CONFIRMED, OrderStatus.ALLOCATED))
Progress = Callable[[float, float], None]

__all__ = ["ACCEPTED_PATH", "Engine", "Order", "Progress", "RegionState"]


class Engine:
    """One simulation run of a scenario on a topology, reproducible from `seed`."""

    def __init__(
        self, topology: Topology, scenario: Scenario, seed: int, progress: Progress | None = None
    ) -> None:
        self.s, self.seed, self.progress = scenario, seed, progress
        seq = np.random.SeedSequence(seed)
        traffic_seed, retry_seed, *region_seeds = seq.spawn(2 + len(topology.regions))
        self.traffic = TrafficModel(scenario, np.random.default_rng(traffic_seed))
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
        fast_fail = [
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
        retry_rng = random.Random(int(retry_seed.generate_state(1)[0]))
        self.clients = Clients(scenario, self.metrics, retry_rng, fast_fail)
        self.net = Forwarding(self.view, self.regions, self.one_way, self.metrics, self.clients)
        self.stock: list[list[StockModel]] = build_stock_models(scenario, self.view)
        self.departed = 0  # orders that left a region's queue (served, timed out or lost with it)
        self.env = simpy.Environment()

    # -- processes ------------------------------------------------------------------------------

    def run(self) -> Metrics:
        env = self.env
        for reg in self.regions:
            for _ in range(reg.workers):
                env.process(self._worker(reg))
        env.process(self._failures())
        env.process(self._monitor())
        for models in self.stock:
            for model in models:
                background = model.background(env)
                if background is not None:
                    env.process(background)
        done = env.process(self._arrivals())
        env.run(until=done)
        self.metrics.flush()
        return self.metrics

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        s, env, net, clients = self.s, self.env, self.net, self.clients
        ticks_per_block = max(1, round(s.bin_s / s.tick_s))
        block_end = 0.0
        while True:
            t = env.now
            self.metrics.sample_little(t, net.injected - self.departed)
            end = t + s.tick_s
            if t < s.duration_s - 1e-9:
                if t >= block_end - 1e-9:
                    n = min(ticks_per_block, int(np.ceil((s.duration_s - t) / s.tick_s - 1e-9)))
                    block_end = t + n * s.tick_s
                    self._load_block(t, n)
                elif net.stale():
                    net.reroute(t)
            elif not clients.retries and not net.in_flight():
                return
            for when, first, combo, attempt, hot in clients.due(end):
                self.metrics.count(when, Code.RETRY)
                net.send_one(when, first, combo, attempt, hot)
            net.arrive(end)
            for sent, combo, hot, code in net.refused_before(end):
                clients.refused(sent, sent, combo, 1, hot, code)
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
                self._timed_out(reg, sent, first, combo, attempt, hot)
                continue
            svc = reg.service_time(self.s.service, hot)
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
                self._timed_out(reg, sent, first, combo, attempt, hot)
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
        for when, _, action, name in failure_plan(self.s.failures, self.view.topology):
            if when > self.env.now:
                yield self.env.timeout(when - self.env.now)
            reg = self.regions[self.view.region_index[name]]
            if action == DIE:
                self._kill(reg)
            elif action == DETECT:
                self.view.mark_down(name)
            elif action == PROMOTE and reg.down:
                self.view.promote_from(name)
            elif action == RECOVER:
                reg.down = False
                reg.wake(len(reg.idle))
            elif action == HEALTHY and not reg.down:
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

    # -- steps ----------------------------------------------------------------------------------

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
        self.net.route(times, combos, hot)

    def _timed_out(
        self, reg: RegionState, sent: float, first: float, combo: int, attempt: int, hot: int
    ) -> None:
        """An order left the region without an answer in time (deadline cut, or the region died)."""
        self.departed += 1
        self.metrics.region_timeouts[reg.index] += sent >= self.s.warmup_s
        self.clients.timed_out(sent, first, combo, attempt, hot)

    def _kill(self, reg: RegionState) -> None:
        reg.down = True
        reg.generation += 1
        lost = list(reg.queue)
        reg.queue.clear()
        for _arrive, first, sent, combo, attempt, hot, _ow in lost:
            self.departed += 1
            self.clients.timed_out(sent, first, combo, attempt, hot)

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
