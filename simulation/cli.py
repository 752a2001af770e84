"""`ordermesh sim ...`: run a scenario, plan capacity, validate the harness, fit calibration figures."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ordermesh.topology import Topology, TopologyError, load_topology
from simulation.fields import ScenarioError
from simulation.scenario import Scenario, load_scenario


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser("sim", help="capacity and failover simulator (SimPy)")
    ssub = sim.add_subparsers(dest="sim_command", metavar="SIMCOMMAND", required=True)

    run = ssub.add_parser("run", help="simulate a scenario; write report.json, report.md and plots")
    _inputs(run)
    run.add_argument("--out", required=True, type=Path, help="output directory")
    run.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    run.add_argument("--seeds", type=int, default=1, help="number of seeds: seed, seed+1, ... (CI when > 1)")
    run.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="parallel processes")
    run.add_argument("--no-plots", action="store_true")
    run.set_defaults(func=_run)

    plan = ssub.add_parser("plan", help="fewest instances per region meeting the p99 SLO at peak, N+1")
    _inputs(plan)
    plan.add_argument("--run-s", type=float, default=60.0, help="simulated seconds per evaluation")
    plan.add_argument("--warmup-s", type=float, default=10.0)
    plan.add_argument("--seeds", type=int, default=1)
    plan.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    plan.add_argument("--json", type=Path, help="also write the plan as JSON here")
    plan.set_defaults(func=_plan)

    val = ssub.add_parser("validate", help="M/M/c by the harness vs Erlang C and Little's law")
    val.add_argument("--lam", type=float, default=80.0, help="arrivals/s")
    val.add_argument("--mu", type=float, default=10.0, help="services/s per worker")
    val.add_argument("--c", type=int, default=10, help="workers")
    val.add_argument("--duration-s", type=float, default=600.0)
    val.add_argument("--warmup-s", type=float, default=60.0)
    val.add_argument("--seeds", type=int, default=8)
    val.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    val.set_defaults(func=_validate)

    cal = ssub.add_parser("calibrate", help="fit lognormal service times from benchmark figures (JSON)")
    cal.add_argument("measurements", type=Path, help="benchmark JSON (schema in simulation/calibration.py)")
    cal.add_argument("--out", type=Path, help="write the fitted stages as JSON here")
    cal.set_defaults(func=_calibrate)


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topology", required=True, type=Path, help="topology YAML (the deployment's own)")
    p.add_argument("--scenario", required=True, type=Path, help="scenario YAML")


def _load(args: argparse.Namespace) -> tuple[Topology, Scenario]:
    topology = load_topology(args.topology)
    return topology, load_scenario(args.scenario, topology)


def _guard(fn: Any, args: argparse.Namespace) -> int:
    try:
        result: int = fn(args)
        return result
    except (TopologyError, ScenarioError) as exc:
        print(f"ordermesh sim: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    return _guard(_do_run, args)


def _do_run(args: argparse.Namespace) -> int:
    from simulation.report import build_report, write_report
    from simulation.runner import run_seeds

    topology, scenario = _load(args)
    seeds = [args.seed + i for i in range(max(1, args.seeds))]
    summaries, timings = run_seeds(topology, scenario, seeds, jobs=args.jobs, progress=True)
    report = build_report(topology.name, scenario, summaries)
    written = write_report(args.out, report, timings, plots=not args.no_plots)
    first = summaries[0]
    print(
        f"{scenario.name}: {first['orders']['generated']:,} orders, p99 {first['latency_ms']['p99']} ms, "
        f"failed {first['orders']['failed']['total']:,}, "
        f"residency violations {report['residency_violations']}, "
        f"{sum(t.orders for t in timings) / max(sum(t.wall_s for t in timings), 1e-9):,.0f} "
        "simulated orders/s"
    )
    print("wrote " + ", ".join(str(p) for p in written))
    return 0 if report["conservation_ok"] and report["residency_violations"] == 0 else 1


def _plan(args: argparse.Namespace) -> int:
    return _guard(_do_plan, args)


def _do_plan(args: argparse.Namespace) -> int:
    from simulation.planner import PlanError, plan

    topology, scenario = _load(args)
    try:
        result = plan(
            topology,
            scenario,
            run_s=args.run_s,
            warmup_s=args.warmup_s,
            seeds=range(1, args.seeds + 1),
            jobs=args.jobs,
        )
    except PlanError as exc:
        print(f"ordermesh sim plan: {exc}", file=sys.stderr)
        return 1
    print(
        f"instances per region for p99 <= {scenario.slo_p99_s * 1000:g} ms at peak with any one region down"
    )
    print(f"{'region':<16} {'instances':>9} {'worst case':<22} {'p99 ms':>8} {'p99 with one less':>18}")
    for row in result.table():
        print(
            f"{row['region']:<16} {row['instances']:>9} {row['worst_case'] or '-':<22} "
            f"{row['p99_ms'] if row['p99_ms'] is not None else '-':>8} "
            f"{row['p99_ms_with_one_less'] if row['p99_ms_with_one_less'] is not None else '-':>18}"
        )
    if result.not_n_plus_1:
        print(f"zones with a single region (no N+1 possible): {', '.join(result.not_n_plus_1)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"instances": result.instances, "cases": result.cases, "table": result.table()}, indent=1
            )
            + "\n"
        )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from simulation.validation import format_table, validate

    checks = validate(
        args.lam,
        args.mu,
        args.c,
        args.duration_s,
        args.warmup_s,
        seeds=range(1, args.seeds + 1),
        jobs=args.jobs,
    )
    print(format_table(checks, args.lam, args.mu, args.c))
    return 0 if all(c.ok for c in checks) else 1


def _calibrate(args: argparse.Namespace) -> int:
    from simulation.calibration import fit_stages, load_measurements

    try:
        fits = fit_stages(load_measurements(args.measurements))
    except ScenarioError as exc:
        print(f"ordermesh sim calibrate: {exc}", file=sys.stderr)
        return 2
    out = {"stages": {f.stage: f.summary() for f in fits}}
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0
