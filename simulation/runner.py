"""Runs a scenario for one or several seeds (in parallel processes) and aggregates confidence intervals."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from ordermesh.topology import Topology
from simulation.engine import Engine
from simulation.scenario import Scenario
from simulation.stats import confidence_interval
from simulation.summary import summarize
from simulation.workers import process_pool


class ProgressBar:
    """A one-line progress bar on stderr, shown only once a run has taken more than `after_s` of wall time."""

    def __init__(self, label: str = "sim", stream: TextIO | None = None, after_s: float = 2.0) -> None:
        self.label, self.stream, self.after_s = label, stream or sys.stderr, after_s
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def __call__(self, sim_now: float, sim_total: float) -> None:
        wall = time.monotonic() - self.started
        # On a terminal: redraw twice a second; in a log file: one line per 30 s of wall time.
        tty = self.stream.isatty()
        if wall < self.after_s or wall - self.last < (0.5 if tty else 30.0):
            return
        self.last, self.shown = wall, True
        frac = min(1.0, sim_now / sim_total) if sim_total > 0 else 1.0
        eta = wall / frac - wall if frac > 0 else 0.0
        bar = "#" * int(frac * 30)
        lead, tail = ("\r", "") if tty else ("", "\n")
        self.stream.write(
            f"{lead}{self.label} [{bar:<30}] {frac:6.1%} sim {sim_now:7.0f}/"
            f"{sim_total:.0f} s wall {wall:6.1f} s eta {eta:5.0f} s{tail}"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.shown and self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()


@dataclass(frozen=True)
class Timing:
    seed: int
    wall_s: float
    orders: int

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.wall_s if self.wall_s > 0 else 0.0


def run_one(
    topology: Topology, scenario: Scenario, seed: int, progress: bool = False
) -> tuple[dict[str, Any], Timing]:
    bar = ProgressBar(f"seed {seed}") if progress else None
    started = time.perf_counter()
    engine = Engine(topology, scenario, seed, bar)
    engine.run()
    wall = time.perf_counter() - started
    if bar is not None:
        bar.close()
    summary = summarize(engine)
    return summary, Timing(seed, wall, summary["orders"]["generated"])


def _run_job(args: tuple[Topology, Scenario, int]) -> tuple[dict[str, Any], Timing]:
    return run_one(*args)


def run_seeds(
    topology: Topology, scenario: Scenario, seeds: Sequence[int], jobs: int = 1, progress: bool = True
) -> tuple[list[dict[str, Any]], list[Timing]]:
    """One run per seed; with jobs > 1 they run in worker processes (results in seed order)."""
    if jobs <= 1 or len(seeds) == 1:
        results = [run_one(topology, scenario, seed, progress) for seed in seeds]
    else:
        with process_pool(min(jobs, len(seeds))) as pool:
            results = list(pool.map(_run_job, [(topology, scenario, seed) for seed in seeds]))
    return [r[0] for r in results], [r[1] for r in results]


HEADLINES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "p50_ms": lambda r: r["latency_ms"]["p50"],
    "p99_ms": lambda r: r["latency_ms"]["p99"],
    "p999_ms": lambda r: r["latency_ms"]["p999"],
    "accepted": lambda r: r["orders"]["accepted"],
    "failed": lambda r: r["orders"]["failed"]["total"],
    "failed_fraction": lambda r: r["orders"]["failed"]["total"] / max(1, r["orders"]["generated"]),
    "retries": lambda r: r["attempts"]["retries"],
    "slo_breach_minutes": lambda r: r["slo"]["breach_minutes"],
    "residency_violations": lambda r: r["residency_violations"],
}


def aggregate(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and 95% confidence interval of each headline figure across seeds."""
    out: dict[str, Any] = {}
    for name, get in HEADLINES.items():
        values = [float(get(r)) if get(r) is not None else float("nan") for r in summaries]
        out[name] = confidence_interval(values).as_dict()
    return out
