"""Two zones, each with its own real zone database (two SQLite files, or two databases on one
PostgreSQL server), and one PoolBook per zone: the fixture and builders of the pool tests."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from consistency.coordinator import Coordinator
from consistency.memory_coordinator import MemoryCoordinator, MemoryEnsemble
from ordermesh.clock import Clock, SystemClock
from ordermesh.retry import RetryPolicy
from region_service.pools import DirectPeers, PoolBook, PoolPeers
from region_service.storage.engine import make_engine
from region_service.storage.migrate import upgrade
from region_service.storage.pools import Transfer
from region_service.storage.transactions import SqlTransactionRunner

ZONES = ("eu", "us")
TENANT = "acme"
# Hot-row contention under SERIALIZABLE: more, shorter retries than the default policy.
HOT = RetryPolicy(max_attempts=40, base_delay_s=0.001, max_delay_s=0.03)


@dataclass
class ZoneDatabases:
    kind: str
    urls: dict[str, str]


@pytest.fixture(params=["sqlite", "postgresql"])
def zone_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ZoneDatabases]:
    """Migrated zone databases for eu and us: two SQLite files, or two databases on a real PostgreSQL."""
    if request.param == "sqlite":
        urls = {z: f"sqlite:///{tmp_path / z}.db" for z in ZONES}
        cleanup: Callable[[], None] = lambda: None  # noqa: E731
    else:
        server = request.getfixturevalue("postgres_server")
        second = f"test_{uuid.uuid4().hex[:16]}_us"
        server.create_database(second)
        urls = {"eu": request.getfixturevalue("postgres_url"), "us": server.url(second)}
        cleanup = lambda: server.drop_database(second)  # noqa: E731
    for url in urls.values():
        upgrade(url)
    try:
        yield ZoneDatabases(request.param, urls)
    finally:
        cleanup()


class FakeConflicts:
    """The runner's inject hook: a fake SQLSTATE 40001 right before COMMIT, with probability `rate`."""

    def __init__(self, rate: float, seed: int = 7) -> None:
        self.rate, self.injected = rate, 0
        self._rng, self._lock = random.Random(seed), threading.Lock()

    def __call__(self, attempt: int) -> None:
        with self._lock:
            hit = self._rng.random() < self.rate
            self.injected += hit
        if hit:
            raise psycopg.errors.SerializationFailure("injected: could not serialize access")


@dataclass
class Cluster:
    books: dict[str, PoolBook]  # the zone's first instance: the one its peers call
    runners: dict[str, SqlTransactionRunner]
    engines: dict[str, Engine]
    coordinators: list[Coordinator] = field(default_factory=list)
    instances: dict[str, list[PoolBook]] = field(default_factory=dict)  # every instance of the zone

    def rows(self, zone: str, table: str) -> list[tuple[Any, ...]]:
        with self.engines[zone].connect() as conn:
            return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2, 3"))]

    def execute(self, zone: str, sql: str) -> None:
        with self.engines[zone].begin() as conn:
            conn.execute(text(sql))

    def close(self) -> None:
        for coordinator in self.coordinators:
            coordinator.close()
        for engine in self.engines.values():
            engine.dispose()


def build_cluster(
    urls: dict[str, str],
    *,
    coordinators: dict[str, Coordinator] | None = None,
    clock: Clock | None = None,
    inject: Callable[[int], None] | None = None,
    policy: RetryPolicy = HOT,
    after_send: dict[str, Callable[[Transfer], None]] | None = None,
    instances: int = 1,
    peers_of: Callable[[str, DirectPeers], PoolPeers] | None = None,
    **book_options: Any,
) -> Cluster:
    """A PoolBook per zone over its own database; coordinators default to in-memory clients of one
        ensemble (one client per zone, as two regional instances would have). With `instances` > 1 each
        zone gets more instances over the same zone database (as a zone's several regions have), each with
        its own runner and coordinator client; peers call the first. `peers_of(zone, direct)` may wrap
    what a zone's books see of the others (the benchmark adds an inter-zone round trip)."""
    ensemble = MemoryEnsemble()
    if coordinators is None:
        coordinators = {z: MemoryCoordinator(ensemble) for z in urls}
    peers = DirectPeers()
    cluster = Cluster({}, {}, {}, list(coordinators.values()))
    for zone, url in urls.items():
        cluster.engines[zone] = engine = make_engine(url)
        cluster.instances[zone] = []
        for n in range(instances):
            runner = SqlTransactionRunner(engine, policy, inject=inject)
            coordinator = coordinators[zone] if n == 0 else MemoryCoordinator(ensemble)
            if n:
                cluster.coordinators.append(coordinator)
            seen = peers_of(zone, peers) if peers_of is not None else peers
            book = PoolBook(
                zone, runner, seen, coordinator, clock or SystemClock(), f"{zone}-instance-{n + 1}",
                after_send=(after_send or {}).get(zone), **book_options,
            )  # fmt: skip
            cluster.instances[zone].append(book)
        cluster.books[zone] = cluster.instances[zone][0]
        cluster.runners[zone] = cluster.books[zone].runner
        peers.add(cluster.books[zone])
    return cluster


def configure_everywhere(cluster: Cluster, sku: str, strategy: str, stock: int, **options: Any) -> None:
    for book in cluster.books.values():
        book.configure(TENANT, sku, strategy, list(ZONES), stock=stock, **options)
