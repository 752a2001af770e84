"""The scenario model: traffic, capacity, service times, client behaviour and failures, validated once.

A scenario is read next to a topology (the same YAML a deployment uses): every region, tenant and
country it names is checked against it, and every error names the field by its path. The parts with
a life of their own are read by their own modules: `demand` (geographies, diurnal curves, ramps),
`flash_sales` (hot SKUs and their stock strategies) and `outages` (the failure schedule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ordermesh.retry import RetryPolicy
from ordermesh.topology import Topology
from simulation.demand import Diurnal, Geography, Ramp, parse_geographies, parse_ramps
from simulation.distributions import ServiceDist, parse_dist
from simulation.fields import ScenarioError, integer, mapping, number, text
from simulation.flash_sales import STRATEGIES, FlashSale, parse_flash_sales
from simulation.outages import Failures, Outage, parse_failures

# The scenario's parts live in their own modules; these names stay importable from here.
__all__ = [
    "STRATEGIES",
    "Diurnal",
    "Failures",
    "FlashSale",
    "Geography",
    "Outage",
    "Ramp",
    "Scenario",
    "Service",
    "load_scenario",
    "parse_scenario",
]


@dataclass(frozen=True)
class Service:
    app: ServiceDist
    db_commit: ServiceDist
    conflict_probability: float = 0.0  # per commit, a serialization failure (40001) and a retry
    hot_conflict_probability: float = 0.0  # same, for orders of a flash-sale hot SKU
    conflict_backoff_s: float = 0.002


@dataclass(frozen=True)
class Scenario:
    name: str
    duration_s: float
    start_hour_utc: float
    geographies: Mapping[str, Geography]
    instances: Mapping[str, int]  # region -> instances
    workers_per_instance: int
    service: Service
    latency_s: Mapping[str, Mapping[str, float]]  # geography -> region -> one-way seconds (router included)
    deadline_s: float
    retry: RetryPolicy
    slo_p99_s: float = 0.3
    error_budget: float = 0.001
    ramps: tuple[Ramp, ...] = ()
    flash_sales: tuple[FlashSale, ...] = ()
    failures: Failures = field(default_factory=Failures)
    invalid_fraction: float = 0.0
    placement: str = "spread"
    tick_s: float = 0.01
    bin_s: float = 1.0
    warmup_s: float = 0.0
    calibration: str | None = None

    def workers(self, region: str) -> int:
        return self.instances[region] * self.workers_per_instance


def load_scenario(path: str | Path, topology: Topology) -> Scenario:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(str(path), f"cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), f"not valid YAML: {exc}") from exc
    return parse_scenario(data, topology, base_dir=path.parent)


_TOP = {
    "name",
    "duration_s",
    "start_hour_utc",
    "traffic",
    "capacity",
    "service",
    "calibration",
    "latency_ms",
    "client",
    "slo",
    "failures",
    "placement",
    "tick_s",
    "bin_s",
    "warmup_s",
}


def parse_scenario(data: Any, topology: Topology, base_dir: Path | None = None) -> Scenario:
    """Validates raw YAML data into a Scenario, or raises ScenarioError naming the first bad field."""
    root = mapping(mapping(data, "scenario"), "", _TOP)  # unknown top-level fields are named bare
    duration = number(root, "duration_s", "", lo=0.0, lo_open=True, hi=7 * 86400)
    traffic = mapping(
        root.get("traffic"), "traffic", {"geographies", "events", "flash_sales", "invalid_fraction"}
    )
    geos = parse_geographies(traffic.get("geographies"), topology)
    capacity = mapping(root.get("capacity"), "capacity", {"workers_per_instance", "instances"})
    service_raw = mapping(root.get("service"), "service", {"app", "db_commit", "contention"})
    service = _service(service_raw)
    calibration = None
    if "calibration" in root:
        from simulation.calibration import apply_calibration

        calibration = text(root, "calibration", "")
        cal_path = Path(calibration) if base_dir is None else base_dir / calibration
        service = apply_calibration(service, cal_path)
    client = mapping(root.get("client", {}), "client", {"deadline_ms", "retry"})
    retry = mapping(
        client.get("retry", {}), "client.retry", {"max_attempts", "base_delay_ms", "max_delay_ms"}
    )
    slo = mapping(root.get("slo", {}), "slo", {"p99_ms", "error_budget"})
    placement = text(root, "placement", "", default="spread")
    if placement not in ("spread", "first"):
        raise ScenarioError("placement", "must be 'spread' (shards over the zone's regions) or 'first'")
    tick = number(root, "tick_s", "", default=0.01, lo=0.0005, hi=1.0)
    return Scenario(
        name=text(root, "name", "", default="scenario"),
        duration_s=duration,
        start_hour_utc=number(root, "start_hour_utc", "", default=0.0, hi=24.0),
        geographies=geos,
        instances=_instances(capacity.get("instances"), topology),
        workers_per_instance=integer(
            capacity, "workers_per_instance", "capacity", default=8, lo=1, hi=10_000
        ),
        service=service,
        latency_s=_latency(root.get("latency_ms", {}), geos, topology),
        deadline_s=number(client, "deadline_ms", "client", default=1000.0, lo=0.0, lo_open=True) / 1000,
        retry=RetryPolicy(
            max_attempts=integer(retry, "max_attempts", "client.retry", default=4, lo=1, hi=100),
            base_delay_s=number(retry, "base_delay_ms", "client.retry", default=50.0) / 1000,
            max_delay_s=number(retry, "max_delay_ms", "client.retry", default=2000.0) / 1000,
        ),
        slo_p99_s=number(slo, "p99_ms", "slo", default=300.0, lo=0.0, lo_open=True) / 1000,
        error_budget=number(slo, "error_budget", "slo", default=0.001, hi=1.0),
        ramps=parse_ramps(traffic.get("events", []), geos),
        flash_sales=parse_flash_sales(traffic.get("flash_sales", []), geos),
        failures=parse_failures(root.get("failures", {}), topology),
        invalid_fraction=number(traffic, "invalid_fraction", "traffic", default=0.0, hi=1.0),
        placement=placement,
        tick_s=tick,
        bin_s=number(root, "bin_s", "", default=1.0, lo=tick, hi=3600.0),
        warmup_s=number(root, "warmup_s", "", default=0.0, hi=duration),
        calibration=calibration,
    )


def _instances(value: Any, topology: Topology) -> dict[str, int]:
    raw = mapping(value, "capacity.instances")
    names = {r.name for r in topology.regions}
    for key in raw:
        if key != "default" and key not in names:
            raise ScenarioError(f"capacity.instances.{key}", f"unknown region {key!r} (not in the topology)")
    out = {}
    for region in sorted(names):
        key = region if region in raw else "default"
        out[region] = integer(raw, key, "capacity.instances", lo=0, hi=100_000)
    return out


def _service(raw: Mapping[str, Any]) -> Service:
    cont = mapping(
        raw.get("contention", {}),
        "service.contention",
        {"conflict_probability", "hot_conflict_probability", "backoff_ms"},
    )
    at = "service.contention"
    return Service(
        app=parse_dist(raw.get("app"), "service.app"),
        db_commit=parse_dist(raw.get("db_commit", "none"), "service.db_commit"),
        conflict_probability=number(cont, "conflict_probability", at, default=0.0, hi=0.95),
        hot_conflict_probability=number(cont, "hot_conflict_probability", at, default=0.0, hi=0.95),
        conflict_backoff_s=number(cont, "backoff_ms", at, default=2.0) / 1000,
    )


def _latency(value: Any, geos: Mapping[str, Geography], topology: Topology) -> dict[str, dict[str, float]]:
    raw = mapping(value, "latency_ms", set(geos) | {"default", "router"})
    default = number(raw, "default", "latency_ms", default=0.0)
    router = number(raw, "router", "latency_ms", default=0.0)
    regions = [r.name for r in topology.regions]
    out: dict[str, dict[str, float]] = {}
    for geo in geos:
        row = mapping(raw.get(geo, {}), f"latency_ms.{geo}", set(regions) | {"default"})
        row_default = number(row, "default", f"latency_ms.{geo}", default=default)
        out[geo] = {
            r: (router + number(row, r, f"latency_ms.{geo}", default=row_default)) / 1000 for r in regions
        }
    return out
