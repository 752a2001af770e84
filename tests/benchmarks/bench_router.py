"""Router overhead and failover RTO on a real local cluster; prints figures (not a timed test).

    .venv/bin/python -m tests.benchmarks.bench_router [--seconds 8] [--threads 8] [--trials 3]
    .venv/bin/pytest -s -m benchmark tests/benchmarks/bench_router.py

Overhead: the same closed-loop load generator (threads creating orders, one call in flight each) runs
direct to the shard's home region, then through the router; figures: throughput ratio (target >= 0.8)
and p50 added latency. RTO: SIGKILL the home region of acme's eu shard, then time until the first
successful write for that shard through the router (median of trials; target <= 5 s, default settings).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from deploy.cluster import ClusterOptions, LocalCluster
from ordermesh.client import StorefrontClient
from router.admin import AdminClient
from tests.e2e.test_failover import ACME_KEY, LINES, e2e_topology, home_of, retryable

pytestmark = pytest.mark.benchmark


def load(endpoint: str, seconds: float, threads: int) -> tuple[float, list[float]]:
    """(orders per second, latencies in s) of a closed loop of `threads` clients for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def worker(mine: list[float]) -> None:
        with StorefrontClient(endpoint, ACME_KEY, timeout=10) as client:
            client.create_order("c-warm", "DE", LINES)  # connect before the clock starts
            start.wait()
            while not stop.is_set():
                t = time.perf_counter()
                client.create_order("c-bench", "DE", LINES)
                mine.append(time.perf_counter() - t)

    workers = [threading.Thread(target=worker, args=(lat,), daemon=True) for lat in latencies]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join(30)
    elapsed = time.perf_counter() - began
    flat = [x for lat in latencies for x in lat]
    return len(flat) / elapsed, flat


def overhead(
    cluster: LocalCluster, admin: AdminClient, seconds: float, threads: int, rounds: int = 3
) -> dict[str, float]:
    """Alternating direct / via-router rounds (the machine is noisy): medians, and the median ratio."""
    home, _ = home_of(admin, str(cluster.topology.shard("acme", "eu")))
    direct, via, ratios = [], [], []
    for _ in range(rounds):
        direct.append(load(cluster.region_endpoint(home), seconds, threads))
        via.append(load(cluster.router_endpoint, seconds, threads))
        ratios.append(via[-1][0] / direct[-1][0])
    p50_direct = statistics.median(statistics.median(lat) for _, lat in direct)
    p50_router = statistics.median(statistics.median(lat) for _, lat in via)
    print(f"\nper-round via-router/direct ratios: {', '.join(f'{r:.2f}' for r in ratios)}")
    return {
        "direct_tps": statistics.median(tps for tps, _ in direct),
        "router_tps": statistics.median(tps for tps, _ in via),
        "ratio": statistics.median(ratios),
        "p50_direct_ms": p50_direct * 1e3,
        "p50_router_ms": p50_router * 1e3,
        "p50_added_ms": (p50_router - p50_direct) * 1e3,
    }


def rto_trial(cluster: LocalCluster, admin: AdminClient) -> float:
    """Kill the shard's home, time until a write for the shard succeeds through the router; restore."""
    shard = str(cluster.topology.shard("acme", "eu"))
    home, _ = home_of(admin, shard)
    with StorefrontClient(cluster.router_endpoint, ACME_KEY, timeout=2) as client:
        client.create_order("c-rto", "DE", LINES)
        killed = time.monotonic()
        cluster.kill_region(home)
        request_id = str(uuid.uuid4())
        while True:
            try:
                client.create_order("c-rto", "DE", LINES, request_id=request_id)
                break
            except Exception as exc:
                if not retryable(exc) or time.monotonic() - killed > 60:
                    raise
                time.sleep(0.01)
        rto = time.monotonic() - killed
    cluster.start_region(home)  # restore for the next trial: back to its preferred home
    deadline = time.monotonic() + 20
    while not any(r.region == home and r.live for r in admin.list_placements().regions):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{home} did not come back live")
        time.sleep(0.1)
    admin.failback("")
    return rto


def run(seconds: float, threads: int, trials: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="ordermesh-bench-") as tmp,
        LocalCluster(e2e_topology(), Path(tmp), ClusterOptions()) as cluster,
        AdminClient(cluster.admin_endpoint, cluster.options.admin_key) as admin,
    ):
        figures = overhead(cluster, admin, seconds, threads)
        rtos = [rto_trial(cluster, admin) for _ in range(trials)]
    figures["rto_median_s"] = statistics.median(rtos)
    figures["rto_max_s"] = max(rtos)
    f = figures
    print(
        f"\nrouter overhead ({threads} closed-loop clients, CreateOrder, "
        f"3 alternating rounds of {seconds:.0f}s, medians):\n"
        f"  direct to region : {f['direct_tps']:8.1f} orders/s   p50 {f['p50_direct_ms']:.2f} ms\n"
        f"  via router       : {f['router_tps']:8.1f} orders/s   p50 {f['p50_router_ms']:.2f} ms\n"
        f"  throughput ratio : {figures['ratio']:.2f} (target >= 0.80)   "
        f"p50 added latency: {figures['p50_added_ms']:.2f} ms\n"
        f"failover RTO (SIGKILL home -> first successful write via router), {trials} trials:\n"
        f"  {', '.join(f'{r:.2f}' for r in rtos)} s; median {figures['rto_median_s']:.2f} s (target <= 5 s)"
    )
    return figures


def test_router_overhead_and_failover_rto() -> None:
    figures = run(seconds=5, threads=8, trials=3)
    assert figures["direct_tps"] > 0 and figures["router_tps"] > 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--trials", type=int, default=3)
    ns = parser.parse_args()
    run(ns.seconds, ns.threads, ns.trials)
    sys.exit(0)
