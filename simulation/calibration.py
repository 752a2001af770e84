"""Calibration: fit service-time distributions from the figures the service benchmarks measure.

Input schema (JSON, as written by the service benchmark; `stages` may also be the top level):

    {"schema": "ordermesh.bench/v1",
     "stages": {"create_order": {"p50_ms": 4.2, "p99_ms": 21.0, "throughput_per_s": 1800, "concurrency": 8},
                "db_commit":    {"p50_ms": 2.1, "p99_ms": 11.0}}}

`create_order` is the instance's own time for a CreateOrder excluding the commit; `db_commit` is
the zone database commit. Each stage gets a lognormal matching p50 and p99 exactly;
`throughput_per_s` with `concurrency` (workers that produced it) is a cross-check: a closed-loop
benchmark at that concurrency implies a mean of concurrency / throughput per call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from simulation.distributions import ServiceDist
from simulation.fields import ScenarioError, mapping, number
from simulation.scenario import Service

STAGES = {"create_order": "app", "db_commit": "db_commit"}


@dataclass(frozen=True)
class StageFit:
    stage: str
    dist: ServiceDist
    measured: dict[str, float]
    implied_mean_ms: float | None  # from throughput and concurrency, when both were measured

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "measured": self.measured, "fitted": self.dist.describe()}
        if self.implied_mean_ms is not None:
            fitted = self.dist.mean * 1000
            out["throughput_check"] = {
                "implied_mean_ms": round(self.implied_mean_ms, 4),
                "fitted_mean_ms": round(fitted, 4),
                "relative_gap": round((fitted - self.implied_mean_ms) / self.implied_mean_ms, 4),
            }
        return out


def load_measurements(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ScenarioError(str(path), f"cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(str(path), f"not valid JSON: {exc}") from exc
    root = mapping(data, "calibration")
    return dict(mapping(root["stages"], "stages")) if "stages" in root else dict(root)


def fit_stages(measurements: dict[str, Any]) -> list[StageFit]:
    """Fits every known stage present; unknown stages are an error naming them (typos must not pass)."""
    at_root = "stages"
    fits = []
    for stage, raw in measurements.items():
        if stage == "schema":
            continue
        at = f"{at_root}.{stage}"
        if stage not in STAGES:
            raise ScenarioError(at, f"unknown stage (known: {', '.join(sorted(STAGES))})")
        m = mapping(raw, at, {"p50_ms", "p99_ms", "mean_ms", "throughput_per_s", "concurrency"})
        p50 = number(m, "p50_ms", at, lo=0.0, lo_open=True)
        p99 = number(m, "p99_ms", at, lo=p50)
        measured = {k: float(m[k]) for k in m}
        implied = None
        if "throughput_per_s" in m:
            tput = number(m, "throughput_per_s", at, lo=0.0, lo_open=True)
            conc = number(m, "concurrency", at, default=1.0, lo=1.0)
            implied = 1000.0 * conc / tput
        fits.append(
            StageFit(stage, ServiceDist.lognormal_from_quantiles(p50 / 1000, p99 / 1000), measured, implied)
        )
    if not fits:
        raise ScenarioError(at_root, f"no stage measured (known: {', '.join(sorted(STAGES))})")
    return fits


def apply_calibration(service: Service, path: str | Path) -> Service:
    """The scenario's service model with every calibrated stage replaced by its fitted distribution."""
    fits = fit_stages(load_measurements(path))
    app = next((f.dist for f in fits if STAGES[f.stage] == "app"), service.app)
    commit = next((f.dist for f in fits if STAGES[f.stage] == "db_commit"), service.db_commit)
    return replace(service, app=app, db_commit=commit)
