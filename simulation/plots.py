"""PNG plots of a report's first run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator


def _nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def write_plots(out: Path, report: dict[str, Any]) -> list[Path]:
    run = report["runs"][0]
    s = run["series"]
    t = s["t"]
    paths = []

    def save(name: str, fig: Any) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)

    fig, ax = plt.subplots(figsize=(10, 4))
    for key in ("generated_per_s", "accepted_per_s", "rejected_per_s", "failed_per_s"):
        ax.plot(t, s[key], label=key.replace("_per_s", ""), lw=0.8)
    ax.set(xlabel="simulated time (s)", ylabel="orders/s", title="Throughput")
    ax.legend()
    save("throughput.png", fig)

    fig, ax = plt.subplots(figsize=(10, 4))
    for q, values in s["latency_ms"].items():
        ax.plot(t, _nan(values), label=q, lw=0.8)
    ax.axhline(run["slo"]["p99_ms"], color="red", ls="--", lw=0.8, label="SLO p99")
    for minute in run["slo"]["breached"]:
        ax.axvspan(minute * 60, minute * 60 + 60, color="red", alpha=0.08)
    ax.set(
        xlabel="simulated time (s)",
        ylabel="ms",
        yscale="log",
        title="Latency percentiles (breach minutes shaded)",
    )
    ax.legend()
    save("latency.png", fig)

    for name, key, label in (
        ("queues.png", "queue", "waiting orders"),
        ("utilization.png", "utilization", "busy"),
    ):
        fig, ax = plt.subplots(figsize=(10, 4))
        for region, values in s[key].items():
            ax.plot(t, values, label=region, lw=0.8)
        ax.set(xlabel="simulated time (s)", ylabel=label, title=key.capitalize() + " per region")
        ax.legend(fontsize="small", ncol=2)
        save(name, fig)

    fig, ax = plt.subplots(figsize=(10, 4))
    for key in ("retries_per_s", "timeouts_per_s", "fenced_per_s", "failed_per_s"):
        ax.plot(t, s[key], label=key.replace("_per_s", ""), lw=0.8)
    ax.set(
        xlabel="simulated time (s)",
        ylabel="per second",
        title=f"Errors and retries (residency violations: {run['residency_violations']})",
    )
    ax.legend()
    save("errors.png", fig)

    if run["stock"]:
        fig, ax = plt.subplots(figsize=(8, 4))
        labels, sold = [], []
        bounded: list[tuple[str, int]] = []  # eventual's bound; strong and escrow are 0 by design
        for sale in run["stock"]:
            for st in sale["strategies"]:
                primary = " (primary)" if st["strategy"] == sale["primary"] else ""
                labels.append(f"{sale['sale']}\n{st['strategy']}{primary}")
                sold.append(st["oversold"])
                if "oversell_bound" in st:
                    bounded.append((labels[-1], st["oversell_bound"]))
        bars = ax.bar(labels, sold, label="oversold")
        ax.bar_label(bars)  # a bar of 0 is invisible: its number says it was measured
        if bounded:
            at, bound = zip(*bounded, strict=True)
            ax.scatter(at, bound, marker="_", s=900, color="red", zorder=3, label="oversell bound")
        ax.set_ylim(0, max([*(b for _, b in bounded), *sold, 1]) * 1.15)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(ylabel="units sold beyond the stock", title="Oversell per strategy (same demand for each)")
        ax.legend()
        save("oversell.png", fig)
    return paths
