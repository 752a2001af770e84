"""Benchmark (issue 4): one hot multi-zone SKU under strong, escrow and eventual, side by side.

One durable PostgreSQL (fsync and synchronous_commit on, SERIALIZABLE) holds two zone databases,
`pool_eu` and `pool_us`; a PoolBook per zone runs over its own database, and a cross-zone call
(strong's forward to the owner, a rebalance, gossip) is a real call into the other database. For each
strategy in turn, ROUNDS times alternating, on a fresh pool each time: CONCURRENCY closed-loop clients
(threads, half per zone) reserve 1 unit, then ship it (commit) or give it back (release) half the time,
for SECONDS after WARMUP, on a stock that never runs out (the throughput phase); then the same clients
ship every grant of a SALE_STOCK pool for SALE_SECONDS (the sell-out phase: oversold units, escrow
rebalances). Medians over the rounds are reported (oversold: the worst round).

Prints per strategy: reserve calls/s, granted/s, p50/p99 of the reserve call (forward and rebalance
included), errors, oversold units, rebalances, gossip rounds; writes them as JSON to OUT. Fails only if
a strategy completed no call, a pool did not balance, or strong or escrow oversold.

Baseline in the same run: pgbench on the same server and concurrency, one transaction per call that
updates the same kind of hot slice row (`UPDATE sku_pools … WHERE free >= 1`), SERIALIZABLE, re-run on
serialization failures: what the database does for a hot row without ordermesh's batching.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploy.postgres_server import PostgresServer
from region_service.pools import DirectPeers, PoolBook, PoolReport
from region_service.storage import migrate
from region_service.storage.pools import TransferState
from tests.integration.pool_cluster import TENANT, ZONES, Cluster, build_cluster, configure_everywhere

ROOT = Path(__file__).resolve().parents[2]


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


ROUNDS = _env_int("ORDERMESH_BENCH_ROUNDS", 3)
SECONDS = _env_int("ORDERMESH_BENCH_SECONDS", 10)
WARMUP = _env_int("ORDERMESH_BENCH_WARMUP", 2)
CONCURRENCY = _env_int("ORDERMESH_BENCH_CONCURRENCY", 16)
STOCK = _env_int("ORDERMESH_BENCH_STOCK", 1_000_000)  # throughput phase: never sells out
SALE_STOCK = _env_int("ORDERMESH_BENCH_SALE_STOCK", 500)  # sell-out phase: sells out in well under a second
SALE_SECONDS = _env_int("ORDERMESH_BENCH_SALE_SECONDS", 3)
GOSSIP_MS = _env_int("ORDERMESH_BENCH_GOSSIP_MS", 50)
CROSS_ZONE_MS = _env_int("ORDERMESH_BENCH_CROSS_ZONE_MS", 0)  # simulated inter-zone round trip
OUT = Path(os.environ.get("ORDERMESH_BENCH_OUT", ROOT / "tests/benchmarks/out/reservations.json"))
STRATEGIES = ("strong", "escrow", "eventual")


@dataclass(frozen=True)
class Figures:
    strategy: str
    reserves_per_s: float
    granted_per_s: float
    p50_ms: float
    p99_ms: float
    calls: int
    errors: int
    oversold: int  # sell-out phase: units shipped beyond its stock
    committed: int  # sell-out phase: units shipped
    conserved: bool  # both phases' pools balanced
    rebalances: int  # both phases
    gossip_rounds: int  # both phases
    retries: int  # database re-runs, both phases


class DelayedPeers:
    """The other zones as `zone` sees them: each call into another zone first waits CROSS_ZONE_MS, the
    round trip that DirectPeers (one process, one server) does not have."""

    def __init__(self, zone: str, direct: DirectPeers) -> None:
        self.zone, self.direct = zone, direct

    def book(self, zone: str) -> PoolBook:
        if zone != self.zone and CROSS_ZONE_MS:
            time.sleep(CROSS_ZONE_MS / 1000)
        return self.direct.book(zone)


def quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of an ascending list (0.0 for an empty one)."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else 0.0


class Load:
    """Closed-loop clients; only reserve calls that complete inside the measured window count."""

    def __init__(self, cluster: Cluster, sku: str, start: float, end: float, commit_share: float) -> None:
        self.cluster, self.sku, self.start, self.end = cluster, sku, start, end
        self.commit_share = commit_share
        self.lock = threading.Lock()
        self.latencies_ms: list[float] = []
        self.granted = self.errors = 0

    def client(self, zone: str, seed: int) -> None:
        rng, book = random.Random(seed), self.cluster.books[zone]
        while (now := time.monotonic()) < self.end:
            try:
                outcome = book.reserve(TENANT, self.sku, 1)
                if outcome.granted:
                    (book.commit if rng.random() < self.commit_share else book.release)(TENANT, self.sku, 1)
                failed = False
            except Exception:  # counted, never hidden: a Contention give-up, or a bug
                failed, outcome = True, None
            done = time.monotonic()
            if self.start <= now and done <= self.end:
                with self.lock:
                    self.errors += failed
                    if outcome is not None:
                        self.latencies_ms.append((done - now) * 1000)
                        self.granted += outcome.granted


@dataclass(frozen=True)
class Phase:
    load: Load
    report: PoolReport
    rebalances: int
    gossip_rounds: int


def drive(
    cluster: Cluster, strategy: str, sku: str, stock: int, warmup: float, seconds: float, share: float
) -> Phase:
    """Configures a fresh pool, runs the clients (and eventual's gossip), then reads the pool back."""
    configure_everywhere(cluster, sku, strategy, stock, owner="eu", low_watermark=max(1, stock // 40))
    start = time.monotonic() + warmup
    load = Load(cluster, sku, start, start + seconds, share)
    stop, rounds = threading.Event(), [0]

    def gossip() -> None:
        while not stop.wait(GOSSIP_MS / 1000):
            try:
                cluster.books["eu"].gossip_once(TENANT, sku)
                rounds[0] += 1
            except Exception:  # a round lost to contention; the next one catches up
                pass

    threads = [threading.Thread(target=load.client, args=(ZONES[i % 2], i)) for i in range(CONCURRENCY)]
    if strategy == "eventual":
        threads.append(threading.Thread(target=gossip))
    for t in threads:
        t.start()
    time.sleep(max(0.0, load.end - time.monotonic()))
    stop.set()
    for t in threads:
        t.join(120)
    if strategy == "eventual":
        cluster.books["eu"].gossip_once(TENANT, sku)
    transfers = [t for z in ZONES for t in cluster.books[z].transfers(TENANT, sku)]
    rebalances = sum(t.state is TransferState.DONE for t in transfers)
    return Phase(load, cluster.books["eu"].global_summary(TENANT, sku), rebalances, rounds[0])


def run_strategy(urls: dict[str, str], strategy: str, round_no: int) -> Figures:
    """The throughput phase (ample stock), then the sell-out phase (every grant ships) on a fresh pool."""
    cluster = build_cluster(urls, peers_of=DelayedPeers)
    try:
        hot = drive(cluster, strategy, f"HOT-{strategy}-{round_no}", STOCK, WARMUP, SECONDS, 0.5)
        sale = drive(cluster, strategy, f"SALE-{strategy}-{round_no}", SALE_STOCK, 0, SALE_SECONDS, 1.0)
        ordered = sorted(hot.load.latencies_ms)
        return Figures(
            strategy,
            len(ordered) / SECONDS,
            hot.load.granted / SECONDS,
            quantile(ordered, 0.50),
            quantile(ordered, 0.99),
            len(ordered),
            hot.load.errors + sale.load.errors,
            sale.report.summary.oversold,
            sale.report.summary.committed,
            hot.report.conserved and sale.report.conserved,
            hot.rebalances + sale.rebalances,
            hot.gossip_rounds + sale.gossip_rounds,
            sum(r.stats.retries for r in cluster.runners.values()),
        )
    finally:
        cluster.close()


PGBENCH_SCRIPT = """\
BEGIN;
UPDATE sku_pools SET free = free - 1, held = held + 1, version = version + 1
  WHERE tenant = 'acme' AND sku = 'PGBENCH' AND zone = 'eu' AND free >= 1;
COMMIT;
"""


def run_pgbench(pg: PostgresServer, urls: dict[str, str], workdir: Path) -> Figures:
    """The hot-row baseline: pgbench for WARMUP + SECONDS, its per-transaction log cut to the window."""
    cluster = build_cluster(urls)
    try:
        for book in cluster.books.values():  # idempotent: the same row again in later rounds
            book.configure(TENANT, "PGBENCH", "strong", list(ZONES), owner="eu", stock=1_000_000_000)
    finally:
        cluster.close()
    workdir.mkdir(parents=True, exist_ok=True)
    script, prefix = workdir / "hot_row.sql", workdir / "pgbench"
    script.write_text(PGBENCH_SCRIPT)
    cli = [str(pg.bindir / "pgbench"), "-n", "-f", str(script), "-c", str(CONCURRENCY), "-j", "1",
           "-M", "prepared", "--max-tries=1000", "-T", str(WARMUP + SECONDS + 1), "-l",
           f"--log-prefix={prefix}", "-h", "127.0.0.1", "-p", str(pg.port), "-U", pg.user,
           "pool_eu"]  # fmt: skip
    done = subprocess.run(cli, cwd=workdir, capture_output=True, text=True, timeout=WARMUP + SECONDS + 120)
    assert done.returncode == 0, f"pgbench failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    rows = []  # (completion time s, latency ms); log: client tx latency_us script epoch_s epoch_us
    for log in workdir.glob(f"{prefix.name}.*"):
        for fields in (line.split() for line in log.read_text().splitlines()):
            if fields[2] != "failed":
                rows.append((int(fields[4]) + int(fields[5]) / 1e6, int(fields[2]) / 1000))
    first = min(end - ms / 1000 for end, ms in rows)
    window = sorted(ms for end, ms in rows if first + WARMUP <= end <= first + WARMUP + SECONDS)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    retried = re.search(r"number of transactions retried: (\d+)", done.stdout)
    rate = len(window) / SECONDS
    return Figures(
        "pgbench", rate, rate, quantile(window, 0.5), quantile(window, 0.99), len(window),
        int(failed.group(1)) if failed else 0, 0, 0, True, 0, 0, int(retried.group(1)) if retried else 0,
    )  # fmt: skip


def table(rows: list[Figures]) -> str:
    head = f"{'strategy':<9} {'reserves/s':>10} {'granted/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
    head += f"{'oversold':>8} {'sold':>9} {'rebalances':>10} {'gossip':>6} {'db retries':>10}"
    lines = [head]
    for f in rows:
        rates = f"{f.reserves_per_s:>10.0f} {f.granted_per_s:>9.0f} {f.p50_ms:>7.1f} {f.p99_ms:>7.1f}"
        counts = f"{f.errors:>6} {f.oversold:>8} {f.committed:>9} {f.rebalances:>10} {f.gossip_rounds:>6}"
        lines.append(f"{f.strategy:<9} {rates} {counts} {f.retries:>10}")
    return "\n".join(lines)


def median_figures(rounds: list[Figures]) -> Figures:
    """Per figure, the median over the rounds (counts too); `conserved` only if every round balanced."""
    fields = {
        name: statistics.median(getattr(r, name) for r in rounds)
        for name in ("reserves_per_s", "granted_per_s", "p50_ms", "p99_ms")
    }
    counts = {
        name: int(statistics.median(getattr(r, name) for r in rounds))
        for name in ("calls", "errors", "committed", "rebalances", "gossip_rounds", "retries")
    }
    worst = max(r.oversold for r in rounds)
    return Figures(
        rounds[0].strategy, **fields, **counts, oversold=worst, conserved=all(r.conserved for r in rounds)
    )


def test_reservation_strategies_side_by_side(tmp_path: Path) -> None:
    per_round: list[list[Figures]] = []
    with PostgresServer(durable=True) as pg:
        urls = {zone: pg.url(f"pool_{zone}") for zone in ZONES}
        for zone in ZONES:
            pg.create_database(f"pool_{zone}")
            migrate.upgrade(urls[zone])
        for round_no in range(ROUNDS):  # strategies alternate round by round, pgbench last in each
            figures = [run_strategy(urls, strategy, round_no) for strategy in STRATEGIES]
            figures.append(run_pgbench(pg, urls, tmp_path / f"r{round_no}"))
            per_round.append(figures)
            print(f"\nround {round_no + 1}\n{table(figures)}")
    medians = [median_figures([r[i] for r in per_round]) for i in range(len(STRATEGIES) + 1)]
    settings: dict[str, Any] = {
        "rounds": ROUNDS, "seconds": SECONDS, "warmup_s": WARMUP, "concurrency": CONCURRENCY,
        "stock": STOCK, "sale_stock": SALE_STOCK, "sale_seconds": SALE_SECONDS, "gossip_ms": GOSSIP_MS,
        "zones": list(ZONES), "durable": True, "commit_share": 0.5, "cross_zone_ms": CROSS_ZONE_MS,
    }  # fmt: skip
    print(
        f"\nhot SKU, {CONCURRENCY} clients over {len(ZONES)} zone databases, {SECONDS}s x {ROUNDS} rounds, "
        f"cross-zone round trip {CROSS_ZONE_MS} ms"
    )
    print(f"median of {ROUNDS} rounds (oversold: the worst round)\n{table(medians)}")
    print("pgbench: one unbatched transaction per reserve on one hot slice row (the same-run baseline)")
    result = {
        "settings": settings,
        "median": [asdict(f) for f in medians],
        "rounds": [[asdict(f) for f in r] for r in per_round],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"figures written to {OUT}")
    every = [f for r in per_round for f in r]
    assert all(f.calls > 0 for f in every), every
    assert all(f.conserved for f in every), every
    assert all(f.oversold == 0 for f in every if f.strategy != "eventual"), every
