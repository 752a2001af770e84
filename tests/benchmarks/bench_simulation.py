"""Simulator speed: simulated orders per wall-clock second, ours vs a textbook SimPy M/M/c, same run.

    pytest tests/benchmarks/bench_simulation.py -s                      # ~1 minute
    ORDERMESH_BENCH_FULL=1 pytest tests/benchmarks/bench_simulation.py -s   # + the full peak hour

Target (issue 5): one hour of 3 zones x 2 regions at 2,000 orders/s (7.2M orders) in < 10 min on one
core, i.e. >= 12,000 simulated orders per wall second. Wall time depends on what else the machine
runs, so CPU time (process_time) is printed next to it.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Generator
from typing import Any

import simpy

from simulation.benchmark_model import bench_scenario, bench_topology
from simulation.engine import Engine
from simulation.validation import mmc_scenario, mmc_topology

TARGET_ORDERS = 7_200_000
TARGET_WALL_S = 600.0


def plain_simpy_mmc(lam: float, mu: float, c: int, duration_s: float, seed: int) -> int:
    """The textbook model: a source process, one process per customer, a simpy.Resource of c servers."""
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=c)
    rng = random.Random(seed)
    served = [0]

    def customer() -> Generator[Any, Any, None]:
        with servers.request() as req:
            yield req
            yield env.timeout(rng.expovariate(mu))
        served[0] += 1

    def source() -> Generator[Any, Any, None]:
        while True:
            yield env.timeout(rng.expovariate(lam))
            env.process(customer())

    env.process(source())
    env.run(until=duration_s)
    return served[0]


def _timed(fn: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def test_orders_per_second_vs_plain_simpy() -> None:
    lam, mu, c, duration = 2000.0, 10.0, 250, 60.0
    base_n, base_wall, base_cpu = _timed(lambda: plain_simpy_mmc(lam, mu, c, duration, 1))
    topo = mmc_topology()
    engine = Engine(topo, mmc_scenario(topo, lam, mu, c, duration, 0.0), 1)
    m, ours_wall, ours_cpu = _timed(engine.run)
    ours_n = m.outcome_totals()["accepted"]
    print(f"\nM/M/c lam={lam:g}/s mu={mu:g}/s c={c}, {duration:g} s simulated")
    print(
        f"  plain SimPy (process per customer): {base_n:>9,} orders {base_wall:6.2f} s wall "
        f"{base_cpu:6.2f} s cpu -> {base_n / base_cpu:>9,.0f} orders/cpu-s"
    )
    print(
        f"  ordermesh harness                 : {ours_n:>9,} orders {ours_wall:6.2f} s wall "
        f"{ours_cpu:6.2f} s cpu -> {ours_n / ours_cpu:>9,.0f} orders/cpu-s"
    )
    print(f"  ratio (ours / plain, per cpu-s)   : {(ours_n / ours_cpu) / (base_n / base_cpu):.2f}x")
    assert ours_n > 0.95 * lam * duration

    topo6 = bench_topology()
    engine = Engine(topo6, bench_scenario(topo6, duration_s=60.0), 1)
    m, wall, cpu = _timed(engine.run)
    n = sum(m.outcome_totals().values())
    rate = n / cpu
    print(
        f"3 zones x 2 regions at 2,000 orders/s, 60 s simulated: {n:,} orders, "
        f"{wall:.2f} s wall, {cpu:.2f} s cpu"
    )
    print(
        f"  {n / wall:,.0f} orders/wall-s, {rate:,.0f} orders/cpu-s; projected one-hour peak (7.2M orders): "
        f"{TARGET_ORDERS / rate:,.0f} s cpu (target < {TARGET_WALL_S:.0f} s)"
    )


def test_full_peak_hour_when_asked() -> None:
    if os.environ.get("ORDERMESH_BENCH_FULL") != "1":
        print("\n(set ORDERMESH_BENCH_FULL=1 to simulate the full one-hour peak of 7.2M orders)")
        return
    topo = bench_topology()
    engine = Engine(topo, bench_scenario(topo, duration_s=3600.0), 1)
    m, wall, cpu = _timed(engine.run)
    n = sum(m.outcome_totals().values())
    print(
        f"\nfull peak hour: {n:,} orders in {wall:.1f} s wall ({cpu:.1f} s cpu), "
        f"{n / wall:,.0f} orders/wall-s; "
        f"target < {TARGET_WALL_S:.0f} s: {'met' if wall < TARGET_WALL_S else 'MISSED'}"
    )
    assert n > 0.99 * TARGET_ORDERS
