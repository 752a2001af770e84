"""The capacity planner's answer meets the SLO with any one region down, and one instance less does not."""

from __future__ import annotations

import math
from dataclasses import replace

from ordermesh.topology import Topology
from simulation.benchmark_model import bench_topology
from simulation.engine import Engine
from simulation.metrics import percentile
from simulation.planner import peak_case, plan
from simulation.scenario import Scenario, parse_scenario


def small_scenario(topology: Topology) -> Scenario:
    geos = {
        z: {
            "peak_rate": 60.0,
            "countries": dict.fromkeys(cs, 1),
            "tenants": {f"shop{i}": 1 for i in range(4)},
        }
        for z, cs in {"eu": ("DE", "FR"), "us": ("US", "CA"), "apac": ("JP", "AU")}.items()
    }
    return parse_scenario(
        {
            "name": "plan-small",
            "duration_s": 600,
            "traffic": {"geographies": geos},
            "capacity": {"workers_per_instance": 2, "instances": {"default": 1}},
            "service": {"app": {"dist": "lognormal", "p50_ms": 20, "p99_ms": 60}, "db_commit": "none"},
            "latency_ms": {"default": 5},
            "slo": {"p99_ms": 120, "error_budget": 0.01},
        },
        topology,
    )


def worst(
    topology: Topology, s: Scenario, counts: dict[str, int], region: str, cases: list[str | None]
) -> bool:
    """True when `region` meets the SLO in every case with these counts (same criterion as the planner)."""
    for case in cases:
        engine = Engine(topology, replace(peak_case(s, case, 30.0, 5.0), instances=counts), 1)
        m = engine.run()
        i = engine.view.region_index[region]
        p99 = percentile(m.region_hist[i], 0.99)
        served = m.region_hist[i].sum() + m.region_timeouts[i]
        if (not math.isnan(p99) and p99 > s.slo_p99_s) or m.region_timeouts[i] > s.error_budget * max(
            served, 1
        ):
            return False
    return True


def test_planner_count_meets_slo_n_plus_1_and_one_less_does_not() -> None:
    topology = bench_topology()
    s = small_scenario(topology)
    result = plan(topology, s, run_s=30.0, warmup_s=5.0, jobs=2)
    cases: list[str | None] = [None, *(r.name for r in topology.regions)]
    assert set(result.instances) == {r.name for r in topology.regions}
    assert any(n > 1 for n in result.instances.values())
    for region, n in result.instances.items():
        assert worst(topology, s, result.instances, region, cases), region
        if n > 1:
            fewer = dict(result.instances, **{region: n - 1})
            assert not worst(topology, s, fewer, region, cases), region
    rows = {row["region"]: row for row in result.table()}
    assert all(row["one_less_fails"] in (True, None) for row in rows.values())
