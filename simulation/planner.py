"""Capacity planner: the fewest instances per region that keep p99 within the SLO at peak, N+1.

The peak is the moment of the scenario's highest total rate; each case holds that traffic flat for a
short run, with no outage or with one region down from the start and already failed over (its
shards promoted to the next region of their zone). A region passes a case when the orders it served
have p99 <= SLO and the attempts it timed out stay within the error budget. Regions are searched at
the same time (doubling, then bisection per region), reusing the simulator for every evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ordermesh.topology import Topology
from simulation.engine import Engine
from simulation.metrics import percentile
from simulation.scenario import Diurnal, Failures, Outage, Scenario
from simulation.traffic import geography_rate, total_rate
from simulation.workers import process_pool


def peak_time(scenario: Scenario) -> float:
    grid = np.arange(0.0, scenario.duration_s, max(1.0, scenario.duration_s / 20000))
    return float(grid[int(np.argmax(total_rate(scenario, grid)))])


def peak_case(scenario: Scenario, outage: str | None, run_s: float, warmup_s: float) -> Scenario:
    """The scenario's peak held flat for run_s, with `outage` (a region) down and failed over from t=0."""
    t = np.array([peak_time(scenario)])
    geos = {
        name: replace(g, peak_rate=float(geography_rate(scenario, g, t)[0]), diurnal=Diurnal(1.0, 0.0))
        for name, g in scenario.geographies.items()
    }
    sales = tuple(
        replace(fs, start_s=0.0, duration_s=run_s)
        for fs in scenario.flash_sales
        if fs.start_s <= t[0] < fs.start_s + fs.duration_s
    )
    outages = () if outage is None else (Outage("region", outage, 0.0, run_s + 3600.0),)
    return replace(
        scenario,
        duration_s=run_s,
        warmup_s=warmup_s,
        geographies=geos,
        ramps=(),
        flash_sales=sales,
        failures=Failures(0.0, 0.0, outages),
    )


@dataclass
class Evidence:
    """The worst case seen for one region at one instance count."""

    passed: bool
    p99_ms: float
    timeout_fraction: float
    worst_case: str


@dataclass
class PlanResult:
    instances: dict[str, int]
    cases: list[str]
    evidence: dict[str, dict[int, Evidence]] = field(default_factory=dict)
    not_n_plus_1: list[str] = field(default_factory=list)  # zones with a single region

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for region, n in self.instances.items():
            ok = self.evidence[region].get(n)
            below = self.evidence[region].get(n - 1)
            rows.append(
                {
                    "region": region,
                    "instances": n,
                    "worst_case": ok.worst_case if ok else None,
                    "p99_ms": None if ok is None or math.isnan(ok.p99_ms) else round(ok.p99_ms, 2),
                    "p99_ms_with_one_less": None
                    if below is None or math.isnan(below.p99_ms)
                    else round(below.p99_ms, 2),
                    "one_less_fails": None if below is None else not below.passed,
                }
            )
        return rows


class PlanError(RuntimeError):
    """No instance count meets the SLO for a region: its p99 stopped improving with more instances."""

    def __init__(self, region: str, count: int, evidence: Evidence) -> None:
        super().__init__(
            f"{region}: the SLO is out of reach by capacity — with {count} instances p99 is "
            f"{evidence.p99_ms:.1f} ms in case '{evidence.worst_case}' and doubling did not cut it by 10%; "
            "the floor is network latency, service time or retries, not queueing"
        )
        self.region, self.count, self.evidence = region, count, evidence


def _evaluate_case(args: tuple[Topology, Scenario, int]) -> tuple[list[float], list[float]]:
    topology, scenario, seed = args
    engine = Engine(topology, scenario, seed)
    m = engine.run()
    p99 = [percentile(m.region_hist[r.index], 0.99) for r in engine.regions]
    served = m.region_hist.sum(axis=1)
    frac = [
        float(m.region_timeouts[i]) / max(1.0, float(served[i] + m.region_timeouts[i]))
        for i in range(len(engine.regions))
    ]
    return p99, frac


def plan(
    topology: Topology,
    scenario: Scenario,
    run_s: float = 60.0,
    warmup_s: float = 10.0,
    seeds: Sequence[int] = (1,),
    jobs: int = 1,
    max_instances: int = 1024,
) -> PlanResult:
    regions = [r.name for r in topology.regions]
    multi = [z.name for z in topology.zones.values() if len(z.regions) > 1]
    outage_regions = [r.name for r in topology.regions if r.zone in multi]
    cases: list[str | None] = [None, *outage_regions]
    result = PlanResult(
        {},
        ["none" if c is None else f"{c} down" for c in cases],
        {r: {} for r in regions},
        [z for z in topology.zones if z not in multi],
    )
    pool = process_pool(jobs) if jobs > 1 else None

    def evaluate(counts: dict[str, int]) -> dict[str, Evidence]:
        jobs_args = [
            (topology, replace(peak_case(scenario, c, run_s, warmup_s), instances=dict(counts)), seed)
            for c in cases
            for seed in seeds
        ]
        outs = list(pool.map(_evaluate_case, jobs_args)) if pool else [_evaluate_case(a) for a in jobs_args]
        ev: dict[str, Evidence] = {}
        for i, region in enumerate(regions):
            worst = Evidence(True, 0.0, 0.0, "none")
            for k, (p99s, fracs) in enumerate(outs):
                case = result.cases[k // len(seeds)]
                p99, frac = p99s[i], fracs[i]
                ok = (math.isnan(p99) or p99 <= scenario.slo_p99_s) and frac <= scenario.error_budget
                p99_ms = math.nan if math.isnan(p99) else p99 * 1000
                if (not ok and worst.passed) or (ok == worst.passed and p99_ms > worst.p99_ms):
                    worst = Evidence(ok, p99_ms, frac, case)
            ev[region] = worst
            result.evidence[region][counts[region]] = worst
        return ev

    try:
        counts = {r: max(1, scenario.instances[r]) for r in regions}
        lo = dict.fromkeys(regions, 0)  # highest count known to fail
        ev = evaluate(counts)
        while any(not ev[r].passed for r in regions):  # doubling until every region passes
            for r in regions:
                if not ev[r].passed:
                    before = result.evidence[r].get(lo[r]) if lo[r] else None
                    if counts[r] >= max_instances or (
                        before is not None and ev[r].p99_ms > 0.9 * before.p99_ms and ev[r].p99_ms > 0
                    ):
                        raise PlanError(r, counts[r], ev[r])
                    lo[r] = counts[r]
                    counts[r] = min(max_instances, counts[r] * 2)
            ev = evaluate(counts)
        hi = dict(counts)
        lo = {r: lo[r] if lo[r] else 0 for r in regions}
        while any(hi[r] - lo[r] > 1 for r in regions):  # bisection per region, all at once
            trial = {r: (lo[r] + hi[r]) // 2 if hi[r] - lo[r] > 1 else hi[r] for r in regions}
            trial = {r: max(1, n) for r, n in trial.items()}
            ev = evaluate(trial)
            for r in regions:
                if hi[r] - lo[r] > 1:
                    if ev[r].passed:
                        hi[r] = trial[r]
                    else:
                        lo[r] = trial[r]
                if trial[r] == hi[r] == 1:
                    lo[r] = 0
        if any(hi[r] - 1 not in result.evidence[r] and hi[r] > 1 for r in regions):
            evaluate({r: max(1, hi[r] - 1) for r in regions})  # evidence that one less fails
        result.instances = hi
        return result
    finally:
        if pool is not None:
            pool.shutdown()
