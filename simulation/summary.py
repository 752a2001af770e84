"""Turns one run's metrics into the report's figures: totals, conservation, percentiles, SLO, time series."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulation.engine import Engine
from simulation.metrics import Code, Metrics, percentile, percentiles_over_bins
from simulation.scenario import Scenario

QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 3)


def breach_minutes(m: Metrics, s: Scenario) -> tuple[int, list[int]]:
    """Minutes of the run whose p99 exceeded the SLO or whose failures exceeded the error budget."""
    per_min = max(1, round(60 / s.bin_s))
    minutes = math.ceil(s.duration_s / 60)
    breached = []
    for k in range(minutes):
        lo, hi = k * per_min, min((k + 1) * per_min, m.n_bins)
        p99 = percentile(m.hist[lo:hi].sum(0), 0.99)
        failed = sum(
            int(m.counts[lo:hi, c].sum())
            for c in (Code.FAILED_DEADLINE, Code.FAILED_ZONE_UNAVAILABLE, Code.FAILED_FENCED)
        )
        ended = failed + int(m.counts[lo:hi, Code.ACCEPTED].sum())
        if (not math.isnan(p99) and p99 > s.slo_p99_s) or (ended and failed / ended > s.error_budget):
            breached.append(k)
    return len(breached), breached


def summarize(engine: Engine) -> dict[str, Any]:
    """The JSON-ready figures of one run (deterministic: no wall-clock values)."""
    m, s, view = engine.metrics, engine.s, engine.view
    t = {c.name.lower(): m.total(c) for c in Code}
    outcomes = m.outcome_totals()
    ended = sum(outcomes.values())
    all_hist = m.hist.sum(0)
    n_breach, breached = breach_minutes(m, s)
    regions: dict[str, Any] = {}
    dur_bins = max(1, math.ceil(s.duration_s / s.bin_s))
    for reg in engine.regions:
        cap = max(reg.workers, 1) * s.bin_s
        util = m.region_busy[:dur_bins, reg.index] / cap
        regions[reg.name] = {
            "zone": reg.zone,
            "workers": reg.workers,
            "served": int(m.region_done[:, reg.index].sum()),
            "p99_ms": _ms(percentile(m.region_hist[reg.index], 0.99)),
            "utilization_mean": round(float(util.mean()), 4),
            "utilization_max": round(float(util.max()), 4),
            "queue_max": int(m.queue[:, reg.index].max()),
        }
    return {
        "seed": engine.seed,
        "orders": {
            "generated": t["generated"],
            "accepted": outcomes["accepted"],
            "rejected": {
                "total": outcomes["rejected"],
                "validation": t["rejected_validation"],
                "residency": t["rejected_residency"],
                "insufficient_stock": t["rejected_stock"],
            },
            "failed": {
                "total": outcomes["failed"],
                "deadline": t["failed_deadline"],
                "zone_unavailable": t["failed_zone_unavailable"],
                "fenced": t["failed_fenced"],
            },
        },
        "conservation": {"generated": t["generated"], "ended": ended, "vanished": t["generated"] - ended},
        "attempts": {
            "retries": t["retry"],
            "timeouts": t["attempt_timeout"],
            "fenced": t["attempt_fenced"],
            "zone_unavailable": t["attempt_zone_unavailable"],
        },
        "latency_ms": {k: _ms(percentile(all_hist, q)) for k, q in QUANTILES.items()},
        "residency_violations": t["residency_violation"],
        "invalid_transitions": t["invalid_transition"],
        "slo": {
            "p99_ms": round(s.slo_p99_s * 1000, 3),
            "error_budget": s.error_budget,
            "breach_minutes": n_breach,
            "breached": breached,
        },
        "promotions": view.promotions,
        "regions": regions,
        "stock": [
            {
                "sale": sale.name,
                "sku": sale.sku,
                "primary": sale.strategy,
                "strategies": [model.summary() for model in engine.stock[k]],
            }
            for k, sale in enumerate(s.flash_sales)
        ],
        "series": series(engine),
    }


def series(engine: Engine) -> dict[str, Any]:
    """Per-bin time series (bins until the last order ended), rounded so equal runs give equal JSON."""
    m, s = engine.metrics, engine.s
    used = int(np.nonzero(m.counts.any(axis=1))[0].max()) + 1 if m.counts.any() else 1
    used = max(used, min(m.n_bins, math.ceil(s.duration_s / s.bin_s)))

    def col(code: Code) -> list[float]:
        return [round(float(v) / s.bin_s, 3) for v in m.counts[:used, code]]

    def pct(q: float) -> list[float | None]:
        return [_ms(v) for v in percentiles_over_bins(m.hist[:used], q)]

    failed = m.counts[:used, [Code.FAILED_DEADLINE, Code.FAILED_ZONE_UNAVAILABLE, Code.FAILED_FENCED]].sum(1)
    rejected = m.counts[:used, [Code.REJECTED_VALIDATION, Code.REJECTED_RESIDENCY, Code.REJECTED_STOCK]].sum(
        1
    )
    out: dict[str, Any] = {
        "bin_s": s.bin_s,
        "t": [round(i * s.bin_s, 3) for i in range(used)],
        "generated_per_s": col(Code.GENERATED),
        "accepted_per_s": col(Code.ACCEPTED),
        "failed_per_s": [round(float(v) / s.bin_s, 3) for v in failed],
        "rejected_per_s": [round(float(v) / s.bin_s, 3) for v in rejected],
        "retries_per_s": col(Code.RETRY),
        "timeouts_per_s": col(Code.ATTEMPT_TIMEOUT),
        "fenced_per_s": col(Code.ATTEMPT_FENCED),
        "latency_ms": {k: pct(q) for k, q in QUANTILES.items() if k != "p999"},
        "queue": {},
        "utilization": {},
    }
    for reg in engine.regions:
        cap = max(reg.workers, 1) * s.bin_s
        out["queue"][reg.name] = [int(v) for v in m.queue[:used, reg.index]]
        out["utilization"][reg.name] = [round(float(v) / cap, 4) for v in m.region_busy[:used, reg.index]]
    return out
