"""Built-in validation: the same harness run as M/M/c, against Erlang C and Little's law, over seeds.

The runs use the real engine with everything but the queue switched off: one zone with one region,
Poisson arrivals at a constant rate, exponential service, no database stage, no network latency and
a deadline far beyond any wait. Each figure is reported with its 95% confidence interval over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ordermesh.topology import Topology, parse_topology
from simulation.engine import Engine
from simulation.scenario import Scenario, parse_scenario
from simulation.stats import Interval, MMc, confidence_interval
from simulation.workers import process_pool


def mmc_topology() -> Topology:
    return parse_topology(
        {
            "name": "mmc",
            "zones": {
                "q": {"database": "sqlite:///q.sqlite", "regions": {"q-one": {"endpoint": "127.0.0.1:7999"}}}
            },
            "residency": {"countries": {"DE": "q"}},
            "tenants": {"queue": {"zones": ["q"]}},
        }
    )


def mmc_scenario(
    topology: Topology, lam: float, mu: float, c: int, duration_s: float, warmup_s: float
) -> Scenario:
    return parse_scenario(
        {
            "name": f"mmc-lam{lam:g}-mu{mu:g}-c{c}",
            "duration_s": duration_s,
            "warmup_s": warmup_s,
            "tick_s": 0.01,
            "bin_s": 1.0,
            "traffic": {
                "geographies": {"here": {"peak_rate": lam, "countries": {"DE": 1}, "tenants": {"queue": 1}}}
            },
            "capacity": {"workers_per_instance": 1, "instances": {"default": c}},
            "service": {"app": {"dist": "exponential", "mean_ms": 1000.0 / mu}, "db_commit": "none"},
            "client": {"deadline_ms": 1e9, "retry": {"max_attempts": 1}},
        },
        topology,
    )


@dataclass(frozen=True)
class MMcRun:
    lam_hat: float
    p_wait: float
    wq: float
    w: float
    l_time_avg: float

    @property
    def little_gap(self) -> float:
        """L (time average of the number in system) minus lambda-hat * W (per-order average)."""
        return self.l_time_avg - self.lam_hat * self.w


def run_mmc(lam: float, mu: float, c: int, duration_s: float, warmup_s: float, seed: int) -> MMcRun:
    topo = mmc_topology()
    engine = Engine(topo, mmc_scenario(topo, lam, mu, c, duration_s, warmup_s), seed)
    m = engine.run()
    n = max(m.n_served, 1)
    span = duration_s - warmup_s
    return MMcRun(
        lam_hat=m.n_served / span,
        p_wait=m.n_waited / n,
        wq=m.sum_wait / n,
        w=m.sum_sojourn / n,
        l_time_avg=m.little_sum / max(m.little_n, 1),
    )


def _job(args: tuple[float, float, int, float, float, int]) -> MMcRun:
    return run_mmc(*args)


@dataclass(frozen=True)
class Check:
    name: str
    expected: float
    measured: Interval

    @property
    def ok(self) -> bool:
        return self.measured.contains(self.expected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expected": round(self.expected, 6),
            "measured": self.measured.as_dict(),
            "within_ci": self.ok,
        }


def validate(
    lam: float = 80.0,
    mu: float = 10.0,
    c: int = 10,
    duration_s: float = 600.0,
    warmup_s: float = 60.0,
    seeds: Sequence[int] = tuple(range(1, 9)),
    jobs: int = 1,
) -> list[Check]:
    """M/M/c by the harness vs theory: P(wait), Wq (Erlang C), W, L, and Little's law (L = lambda W)."""
    args = [(lam, mu, c, duration_s, warmup_s, s) for s in seeds]
    if jobs > 1:
        with process_pool(jobs) as pool:
            runs = list(pool.map(_job, args))
    else:
        runs = [_job(a) for a in args]
    theory = MMc(lam, mu, c)
    return [
        Check("P(wait) vs Erlang C", theory.p_wait, confidence_interval([r.p_wait for r in runs])),
        Check("Wq (s) vs Erlang C", theory.wq, confidence_interval([r.wq for r in runs])),
        Check("W (s) = Wq + 1/mu", theory.w, confidence_interval([r.w for r in runs])),
        Check("L (time avg) vs lambda*W theory", theory.l, confidence_interval([r.l_time_avg for r in runs])),
        Check("Little: L - lambda_hat*W", 0.0, confidence_interval([r.little_gap for r in runs])),
    ]


def format_table(checks: Sequence[Check], lam: float, mu: float, c: int) -> str:
    theory = MMc(lam, mu, c)
    lines = [
        f"M/M/c validation: lambda={lam:g}/s mu={mu:g}/s c={c} (rho={theory.utilization:.3f})",
        f"{'check':<34} {'theory':>10} {'measured':>10} {'ci95 +/-':>10}  ok",
    ]
    for ch in checks:
        lines.append(
            f"{ch.name:<34} {ch.expected:>10.5f} {ch.measured.mean:>10.5f} "
            f"{ch.measured.half_width:>10.5f}  {'yes' if ch.ok else 'NO'}"
        )
    return "\n".join(lines)
