"""A scenario's failure schedule: region and zone outages, and when the control plane notices and reacts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ordermesh.topology import Topology
from simulation.fields import ScenarioError, join, mapping, number, text

# What happens to a region, in the order it happens (the rank breaks ties at equal times).
DIE, DETECT, PROMOTE, RECOVER, HEALTHY = "die", "detect", "promote", "recover", "healthy"


@dataclass(frozen=True)
class Outage:
    kind: str  # "region" | "zone"
    target: str
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class Failures:
    detection_s: float = 5.0
    promotion_s: float = 10.0
    outages: tuple[Outage, ...] = ()


def failure_plan(f: Failures, topology: Topology) -> list[tuple[float, int, str, str]]:
    """(when, rank, action, region) for every outage, sorted: a region dies, the routers detect it, the
    failover controller promotes its shards, it recovers, and the routers see it healthy again."""
    plan: list[tuple[float, int, str, str]] = []
    for o in f.outages:
        names = [o.target] if o.kind == "region" else [r.name for r in topology.zones[o.target].regions]
        for name in names:
            plan += [
                (o.start_s, 0, DIE, name),
                (o.start_s + f.detection_s, 1, DETECT, name),
                (o.start_s + f.detection_s + f.promotion_s, 2, PROMOTE, name),
                (o.start_s + o.duration_s, 3, RECOVER, name),
                (o.start_s + o.duration_s + f.detection_s, 4, HEALTHY, name),
            ]
    return sorted(plan)


def parse_failures(value: Any, topology: Topology) -> Failures:
    raw = mapping(value, "failures", {"detection_s", "promotion_s", "outages"})
    outages_raw = raw.get("outages", [])
    if not isinstance(outages_raw, list):
        raise ScenarioError("failures.outages", "a list of {region|zone, start_s, duration_s}")
    regions = {r.name for r in topology.regions}
    outages = []
    for i, item in enumerate(outages_raw):
        at = f"failures.outages[{i}]"
        o = mapping(item, at, {"region", "zone", "start_s", "duration_s"})
        if ("region" in o) == ("zone" in o):
            raise ScenarioError(at, "name exactly one of 'region' or 'zone'")
        kind = "region" if "region" in o else "zone"
        target = text(o, kind, at)
        if target not in (regions if kind == "region" else topology.zones):
            raise ScenarioError(join(at, kind), f"unknown {kind} {target!r} (not in the topology)")
        outages.append(
            Outage(kind, target, number(o, "start_s", at), number(o, "duration_s", at, lo=0.0, lo_open=True))
        )
    return Failures(
        number(raw, "detection_s", "failures", default=5.0),
        number(raw, "promotion_s", "failures", default=10.0),
        tuple(outages),
    )
