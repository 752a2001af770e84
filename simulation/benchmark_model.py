"""The benchmark model: 3 zones x 2 regions at a constant 2,000 orders/s, built in code (no files needed)."""

from __future__ import annotations

from typing import Any

from ordermesh.topology import Topology, parse_topology
from simulation.scenario import Scenario, parse_scenario

ZONES = {"eu": ("DE", "FR"), "us": ("US", "CA"), "apac": ("JP", "AU")}


def bench_topology() -> Topology:
    zones: dict[str, Any] = {}
    port = 7100
    for z in ZONES:
        regions = {}
        for suffix in ("a", "b"):
            port += 1
            regions[f"{z}-{suffix}"] = {"endpoint": f"127.0.0.1:{port}"}
        zones[z] = {"database": f"sqlite:///var/{z}.sqlite", "regions": regions}
    countries = {c: z for z, cs in ZONES.items() for c in cs}
    tenants = {f"shop{i}": {"zones": list(ZONES)} for i in range(4)}
    return parse_topology(
        {"name": "bench-3x2", "zones": zones, "residency": {"countries": countries}, "tenants": tenants}
    )


def bench_scenario(
    topology: Topology, duration_s: float = 3600.0, rate: float = 2000.0, instances: int = 4
) -> Scenario:
    """A flat peak hour: `rate` orders/s split over the three zones' storefronts, no failures."""
    geos = {
        z: {
            "peak_rate": rate / len(ZONES),
            "countries": dict.fromkeys(cs, 1),
            "tenants": {f"shop{i}": 1 for i in range(4)},
        }
        for z, cs in ZONES.items()
    }
    return parse_scenario(
        {
            "name": "bench-peak-hour",
            "duration_s": duration_s,
            "traffic": {"geographies": geos},
            "capacity": {"workers_per_instance": 8, "instances": {"default": instances}},
            "service": {
                "app": {"dist": "lognormal", "p50_ms": 8, "p99_ms": 40},
                "db_commit": {"dist": "lognormal", "p50_ms": 4, "p99_ms": 20},
                "contention": {"conflict_probability": 0.01},
            },
            "latency_ms": {"default": 20, "router": 1},
            "client": {"deadline_ms": 1000},
        },
        topology,
    )
