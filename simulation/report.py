"""Writes a run's report: report.json (deterministic for a seed set), report.md and PNG plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulation.runner import Timing, aggregate
from simulation.scenario import Scenario


def build_report(
    topology_name: str, scenario: Scenario, summaries: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The report as data: headline CIs over seeds, each seed's figures (series of the first only)."""
    runs = []
    for i, s in enumerate(summaries):
        runs.append(s if i == 0 else {k: v for k, v in s.items() if k != "series"})
    return {
        "topology": topology_name,
        "scenario": scenario.name,
        "duration_s": scenario.duration_s,
        "seeds": [s["seed"] for s in summaries],
        "headline": aggregate(summaries) if len(summaries) > 1 else None,
        "conservation_ok": all(s["conservation"]["vanished"] == 0 for s in summaries),
        "residency_violations": sum(s["residency_violations"] for s in summaries),
        "runs": runs,
    }


def write_report(
    out: Path, report: dict[str, Any], timings: Sequence[Timing] = (), plots: bool = True
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json", out / "report.md"]
    (out / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    (out / "report.md").write_text(markdown(report, timings))
    if plots:
        from simulation.plots import write_plots

        written += write_plots(out, report)
    return written


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".")
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _cross_zone_work(st: dict[str, Any]) -> str:
    """What a strategy spent across zones: strong's forwards, escrow's rebalances, eventual's gossip."""
    if "forwarded" in st:
        return f"{_fmt(st['forwarded'])} reservations forwarded to the owner zone"
    if "rebalances" in st:
        return f"{_fmt(st['rebalances'])} quota rebalances"
    if "gossip_messages" in st:
        interval, delay = st["gossip_interval_ms"], _fmt(st["gossip_delay_ms"])
        every = f"every {_fmt(interval)} ms" if interval else "on every change"
        return f"{_fmt(st['gossip_messages'])} gossip messages ({every}, {delay} ms delay)"
    return "-"


def markdown(report: dict[str, Any], timings: Sequence[Timing] = ()) -> str:
    first = report["runs"][0]
    ok = report["conservation_ok"]
    conservation = "every order ended accepted, rejected or failed" if ok else "ORDERS VANISHED"
    o = first["orders"]
    lines = [
        f"# Simulation report: {report['scenario']} on {report['topology']}",
        "",
        f"Seeds {', '.join(map(str, report['seeds']))}; {report['duration_s']:g} s simulated. "
        f"Conservation: {conservation}. "
        f"Residency violations: **{report['residency_violations']}**.",
        "",
    ]
    if report["headline"]:
        lines += [
            "## Headline (mean and 95% confidence interval over seeds)",
            "",
            "| figure | mean | ± ci95 |",
            "|---|---:|---:|",
        ]
        lines += [f"| {k} | {_fmt(v['mean'])} | {_fmt(v['ci95'])} |" for k, v in report["headline"].items()]
        lines.append("")
    lines += [
        f"## Orders (seed {first['seed']})",
        "",
        "| outcome | count |",
        "|---|---:|",
        f"| generated | {_fmt(o['generated'])} |",
        f"| accepted | {_fmt(o['accepted'])} |",
    ]
    lines += [f"| rejected: {k} | {_fmt(v)} |" for k, v in o["rejected"].items()]
    lines += [f"| failed: {k} | {_fmt(v)} |" for k, v in o["failed"].items()]
    lines += [f"| attempts: {k} | {_fmt(v)} |" for k, v in first["attempts"].items()]
    lat = first["latency_ms"]
    slo = first["slo"]
    lines += [
        "",
        "## Latency and SLO",
        "",
        f"p50 {_fmt(lat['p50'])} ms, p90 {_fmt(lat['p90'])} ms, p99 {_fmt(lat['p99'])} ms, "
        f"p99.9 {_fmt(lat['p999'])} ms (client-observed, first attempt to answer, retries included).",
        f"SLO p99 <= {_fmt(slo['p99_ms'])} ms, error budget {slo['error_budget']}: "
        f"**{slo['breach_minutes']} breach minute(s)** {slo['breached'][:20]}. "
        f"Shards promoted: {first['promotions']}.",
        "",
        "## Regions",
        "",
        "| region | zone | workers | served | p99 ms | util mean | util max | queue max |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in first["regions"].items():
        lines.append(
            f"| {name} | {r['zone']} | {r['workers']} | {_fmt(r['served'])} | {_fmt(r['p99_ms'])} | "
            f"{_fmt(r['utilization_mean'])} | {_fmt(r['utilization_max'])} | {r['queue_max']} |"
        )
    if first["stock"]:
        lines += [
            "",
            "## Flash sales: oversell per strategy",
            "",
            "The primary strategy decides each order; the others see the same demand in shadow.",
            "",
            "| sale | strategy | stock | granted | refused | oversold | oversell bound | cross-zone work |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for sale in first["stock"]:
            for st in sale["strategies"]:
                mark = " (primary)" if st["strategy"] == sale["primary"] else ""
                lines.append(
                    f"| {sale['sale']} ({sale['sku']}) | {st['strategy']}{mark} | {_fmt(st['stock'])} | "
                    f"{_fmt(st['granted'])} | {_fmt(st['refused'])} | {_fmt(st['oversold'])} | "
                    f"{_fmt(st.get('oversell_bound', 0))} | {_cross_zone_work(st)} |"
                )
        lines += [
            "",
            "strong and escrow never sell more than the stock. eventual sells from each zone's own view and "
            "hears of the other zones' sales by gossip (sent every gossip interval, arriving one delay "
            "later), so it oversells — by at most the bound: the units the other zones granted within one "
            "interval + delay before a grant.",
        ]
    if timings:
        lines += ["", "## Wall time", "", "| seed | wall s | simulated orders/s |", "|---:|---:|---:|"]
        lines += [f"| {t.seed} | {t.wall_s:.2f} | {t.orders_per_s:,.0f} |" for t in timings]
    plots = "throughput.png, latency.png, queues.png, utilization.png, errors.png"
    lines += ["", f"Plots: {plots}" + (", oversell.png" if first["stock"] else ""), ""]
    return "\n".join(lines)
