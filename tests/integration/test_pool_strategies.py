"""Multi-zone SKU pools on real zone databases (issue 4 acceptance): 64 racing clients with injected
serialization failures conserve stock under all three strategies, strong and escrow never oversell,
eventual's oversell is measured against its staleness-window bound; escrow rebalances are fenced by
the coordinator token and the database lease, and a rebalance that crashed half-way is completed."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass, field

import pytest

from consistency.coordinator import Coordinator
from consistency.escrow_stock import Rebalance
from consistency.memory_coordinator import MemoryCoordinator, MemoryEnsemble
from consistency.zk_coordinator import ZkCoordinator
from consistency.zone_stock import RebalanceRequest, Verdict
from ordermesh.clock import ManualClock
from ordermesh.errors import Contention, Fenced, InvalidArgument
from ordermesh.order import MAX_QUANTITY
from region_service.pool_rebalance import lock_name
from region_service.pools import PoolBook
from region_service.storage import leases
from region_service.storage.pools import SqlPoolStore, Transfer, TransferState, VersionConflict
from region_service.storage.repositories import SqlUnitOfWork
from region_service.storage.transactions import is_retryable
from tests.integration import pool_cluster
from tests.integration.pool_cluster import (
    TENANT,
    ZONES,
    Cluster,
    FakeConflicts,
    ZoneDatabases,
    build_cluster,
    configure_everywhere,
)

zone_databases = pool_cluster.zone_databases

CLIENTS = 64
OPS_PER_CLIENT = 10
STOCK = 150
GOSSIP_EVERY_S = 0.02


@dataclass
class Tally:
    """What the clients saw: every unit they were granted, shipped and gave back, and every error."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    granted: int = 0
    refused: int = 0
    committed: int = 0
    released: int = 0
    errors: list[str] = field(default_factory=list)
    grants: list[tuple[float, float, int]] = field(default_factory=list)  # (called, returned, units)


def _settle(book: PoolBook, action: str, sku: str, quantity: int) -> None:
    """A granted hold must end shipped or released: retry its end on Contention (nothing was applied)."""
    for _ in range(20):
        try:
            getattr(book, action)(TENANT, sku, quantity)
            return
        except Contention:
            continue
    raise AssertionError(f"{action} of {quantity} never got through")


def _client(cluster: Cluster, zone: str, sku: str, seed: int, tally: Tally, start: threading.Barrier) -> None:
    instances = cluster.instances[zone]
    rng, book = random.Random(seed), instances[seed // 2 % len(instances)]
    start.wait()
    for _ in range(OPS_PER_CLIENT):
        quantity = rng.randint(1, 3)
        called = time.monotonic()
        try:
            outcome = book.reserve(TENANT, sku, quantity)
        except Contention as exc:  # gave up after its retries: nothing was held
            with tally.lock:
                tally.errors.append(str(exc))
            continue
        returned = time.monotonic()
        with tally.lock:
            tally.granted += outcome.granted
            tally.refused += not outcome.granted
            if outcome.granted:
                tally.grants.append((called, returned, quantity))
        if not outcome.granted:
            continue
        ship = rng.random() < 0.5
        _settle(book, "commit" if ship else "release", sku, quantity)
        with tally.lock:
            if ship:
                tally.committed += quantity
            else:
                tally.released += quantity


def _gossip(cluster: Cluster, sku: str, stop: threading.Event, rounds: list[float]) -> None:
    """Anti-entropy from eu every GOSSIP_EVERY_S; records the start of every round that completed."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            cluster.books["eu"].gossip_once(TENANT, sku)
            rounds.append(started)
        except Contention:
            pass
        stop.wait(GOSSIP_EVERY_S)


def staleness_bound(rounds: list[float], grants: list[tuple[float, float, int]], t0: float, t1: float) -> int:
    """The simulator's bound (simulation/inventory_eventual.py): oversell <= units granted within one
    staleness window before a grant. A zone's view is at most from the last completed round, which
    started at most two round starts before its decision, so a window of three consecutive round
    starts bounds what it can have missed; a grant counts in a window its call overlapped."""
    edges = [t0, *rounds, t1]
    windows = [(edges[i], edges[min(i + 3, len(edges) - 1)]) for i in range(len(edges) - 1)]
    in_window = [[q for called, returned, q in grants if returned >= a and called < b] for a, b in windows]
    return max((sum(units) for units in in_window), default=0)


@pytest.mark.parametrize("strategy", ["strong", "escrow", "eventual"])
def test_64_clients_on_one_hot_sku_conserve_stock_and_only_eventual_oversells(
    zone_databases: ZoneDatabases, strategy: str
) -> None:
    conflicts = FakeConflicts(rate=0.1, seed=11)
    # Two instances per zone over the zone's database: each batches its own callers into one
    # transaction, and the two still race each other (and the rebalances and gossip) in the database.
    cluster = build_cluster(zone_databases.urls, inject=conflicts, instances=2)
    sku = f"FLASH/{strategy}"
    try:
        # escrow: us starts below its low watermark, so its first sales ask for quota while eu still has
        # plenty (an even split runs dry in both zones at once, leaving nothing to move)
        quotas = [140, 10] if strategy == "escrow" else None
        for book in (b for z in ZONES for b in cluster.instances[z]):
            # Rebalances wait for the pool's lock here instead of skipping after 0.2 s: on a loaded
            # machine every early request could otherwise time out on the lock until eu sold out.
            book.rebalance_wait_s = 5.0
        configure_everywhere(cluster, sku, strategy, STOCK, owner="eu", low_watermark=12, quotas=quotas)
        tally, stop, rounds = Tally(), threading.Event(), list[float]()
        start = threading.Barrier(CLIENTS)
        threads = [
            threading.Thread(target=_client, args=(cluster, ZONES[i % 2], sku, i, tally, start))
            for i in range(CLIENTS)
        ]
        gossip = threading.Thread(target=_gossip, args=(cluster, sku, stop, rounds))
        t0 = time.monotonic()
        if strategy == "eventual":
            gossip.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        t1 = time.monotonic()
        stop.set()
        if strategy == "eventual":
            gossip.join(30)
            cluster.books["us"].gossip_once(TENANT, sku)  # converge before reading
        assert not any(t.is_alive() for t in threads)
        report = cluster.books["us"].global_summary(TENANT, sku)
        s = report.summary
        transfers = [t for z in ZONES for t in cluster.books[z].transfers(TENANT, sku)]
        print(
            f"\n{zone_databases.kind} {strategy}: granted {tally.granted}, refused {tally.refused}, "
            f"committed {s.committed}, free {s.free}, held {s.held}, oversold {s.oversold}, "
            f"errors {len(tally.errors)}, injected 40001s {conflicts.injected}, "
            f"retries {sum(b.runner.stats.retries for z in ZONES for b in cluster.instances[z])}, "
            f"transfers {sum(t.state is TransferState.DONE for t in transfers)}, gossip rounds {len(rounds)}"
        )
        assert conflicts.injected > 0
        assert report.conserved, report
        assert s.free + s.held + s.committed + report.in_transit == STOCK
        assert report.in_transit == 0
        # Every unit a client was told is shipped is shipped, exactly once, whatever was re-run.
        assert s.committed == tally.committed
        assert s.held == 0  # every grant was settled
        assert tally.granted > 0 and tally.refused > 0  # the sale sold out
        if strategy == "eventual":
            bound = staleness_bound(rounds, tally.grants, t0, t1)
            print(f"eventual oversold {s.oversold} units (staleness-window bound {bound})")
            assert s.oversold == max(0, tally.committed - STOCK)
            assert s.oversold <= bound
            assert rounds, "gossip never completed a round"
        else:
            assert s.oversold == 0
            assert s.committed <= STOCK
        if strategy == "escrow":
            done = [t for t in transfers if t.state is TransferState.DONE]
            assert done, "no rebalance happened during the run"
            assert all(t.state is not TransferState.SENT for t in transfers)
    finally:
        cluster.close()


def _memory_coordinators() -> dict[str, Coordinator]:
    ensemble = MemoryEnsemble()
    return {z: MemoryCoordinator(ensemble) for z in ZONES}


def test_a_paused_holder_is_refused_by_the_lease_and_by_the_fence(zone_databases: ZoneDatabases) -> None:
    _paused_holder_is_refused(zone_databases, _memory_coordinators())


@pytest.mark.parametrize("zone_databases", ["postgresql"], indirect=True)
def test_a_paused_holder_is_refused_with_real_zookeeper_sessions(
    zone_databases: ZoneDatabases, zk_hosts: str
) -> None:
    """The same with one real ZooKeeper session per zone: eu's session really expires."""
    sessions = {
        z: ZkCoordinator(zk_hosts, session_timeout=3.0, op_timeout=3.0).start(timeout=10.0) for z in ZONES
    }
    _paused_holder_is_refused(zone_databases, dict(sessions))


def _paused_holder_is_refused(zone_databases: ZoneDatabases, coordinators: dict[str, Coordinator]) -> None:
    clock = ManualClock()
    cluster = build_cluster(zone_databases.urls, coordinators=coordinators, clock=clock, lease_ttl_s=5.0)
    sku, eu, us = "SKU-7", cluster.books["eu"], cluster.books["us"]
    name = lock_name(TENANT, sku)
    try:
        configure_everywhere(cluster, sku, "escrow", 100, quotas=[80, 20])
        stale = coordinators["eu"].lock(name, eu.holder, 5.0)
        t1 = stale.__enter__()
        eu.escrow.acquire_lease(name, eu.holder, t1)
        us.escrow.acquire_lease(name, eu.holder, t1)
        # eu's instance pauses (GC, VM freeze): its coordinator session expires, its leases run out,
        # and us rebalances under a newer token.
        coordinators["eu"].expire_session()
        clock.advance(6.0)
        moved = us.rebalance(TENANT, sku, RebalanceRequest("us", 10), wait_s=10.0)
        t2 = coordinators["us"].current_token(name)
        assert moved > 0 and t2 > t1
        before = {z: cluster.rows(z, "sku_pools") + cluster.rows(z, "pool_transfers") for z in ZONES}
        # eu wakes up and carries on with the move it had planned under t1: both writes are refused.
        with pytest.raises(Fenced, match="lease"):
            eu.escrow.send(TENANT, sku, Rebalance("eu", "us", 30), eu.holder, t1)
        ghost = Transfer(TENANT, sku, f"t{t1}-eu-us", "eu", "us", 30, t1)
        with pytest.raises(Fenced, match="lease"):
            us.escrow.receive(ghost, eu.holder, t1)
        with pytest.raises(Fenced):
            eu.escrow.acquire_lease(
                name, eu.holder, t1
            )  # the lease table keeps t2: t1 can never take it again
        # Defence in depth: even if the lease rows were lost (and t1 could lease again), the slices'
        # fence column still refuses a token older than the last applied one.
        for zone in ZONES:
            cluster.execute(zone, "DELETE FROM inventory_leases")
        eu.escrow.acquire_lease(name, eu.holder, t1)
        with pytest.raises(Fenced, match=f"older than the last applied token {t2}"):
            eu.escrow.send(TENANT, sku, Rebalance("eu", "us", 30), eu.holder, t1)
        us.escrow.acquire_lease(name, eu.holder, t1)
        with pytest.raises(Fenced, match=f"older than the last applied token {t2}"):
            us.escrow.receive(ghost, eu.holder, t1)
        assert {z: cluster.rows(z, "sku_pools") + cluster.rows(z, "pool_transfers") for z in ZONES} == before
        report = eu.global_summary(TENANT, sku)
        assert report.conserved and report.summary.free == 100
        assert [s.free for s in report.slices] == [80 - moved, 20 + moved]
        with contextlib.suppress(Exception):
            stale.__exit__(None, None, None)
    finally:
        cluster.close()


def test_a_rebalance_that_crashed_between_donor_and_recipient_is_completed_once(
    zone_databases: ZoneDatabases,
) -> None:
    crashed: list[Transfer] = []

    def crash(transfer: Transfer) -> None:
        crashed.append(transfer)
        raise RuntimeError("instance died after the donor's write")

    cluster = build_cluster(zone_databases.urls, after_send={"eu": crash})
    sku, eu, us = "SKU-9", cluster.books["eu"], cluster.books["us"]
    try:
        configure_everywhere(cluster, sku, "escrow", 100, quotas=[10, 90])
        with pytest.raises(RuntimeError, match="instance died"):
            eu.rebalance(TENANT, sku, RebalanceRequest("eu", 20))
        (transfer,) = crashed
        assert (transfer.from_zone, transfer.to_zone) == ("us", "eu") and transfer.quantity >= 20
        half = eu.global_summary(TENANT, sku)
        assert half.in_transit == transfer.quantity  # left us, not yet in eu: neither lost nor doubled
        assert half.conserved and half.summary.free == 100 - transfer.quantity
        assert [t.state for t in us.transfers(TENANT, sku)] == [TransferState.SENT]
        assert eu.transfers(TENANT, sku) == []
        # Another instance (us, no crash hook) completes it; running recovery again changes nothing.
        assert us.recover_transfers(TENANT, sku) == 1
        assert us.recover_transfers(TENANT, sku) == 0
        done = eu.global_summary(TENANT, sku)
        assert done.in_transit == 0 and done.conserved
        assert [s.free for s in done.slices] == [10 + transfer.quantity, 90 - transfer.quantity]
        assert [t.state for t in us.transfers(TENANT, sku)] == [TransferState.DONE]
        assert [t.state for t in eu.transfers(TENANT, sku)] == [TransferState.RECEIVED]
        # A duplicate delivery of the same transfer (a retried call) is not applied twice.
        name = lock_name(TENANT, sku)
        with cluster.coordinators[0].lock(name, "replayer", 5.0) as token:
            eu.escrow.acquire_lease(name, "replayer", token)
            assert eu.escrow.receive(transfer, "replayer", token) is False
            eu.escrow.release_lease(name, "replayer", token)
        assert eu.slice(TENANT, sku).free == 10 + transfer.quantity
    finally:
        cluster.close()


def test_configure_is_idempotent_and_refuses_a_different_configuration(zone_databases: ZoneDatabases) -> None:
    cluster = build_cluster(zone_databases.urls)
    sku, eu = "SKU-1", cluster.books["eu"]
    try:
        configure_everywhere(cluster, sku, "escrow", 40, low_watermark=3)
        assert eu.reserve(TENANT, sku, 5).granted
        rows = cluster.rows("eu", "sku_pools")
        again = eu.configure(TENANT, sku, "escrow", list(ZONES), stock=40, low_watermark=3)
        assert (again.free, again.held) == (15, 5)  # the live counters, not a reset
        assert cluster.rows("eu", "sku_pools") == rows
        with pytest.raises(InvalidArgument, match="already configured differently"):
            eu.configure(TENANT, sku, "escrow", list(ZONES), stock=41, low_watermark=3)
        with pytest.raises(InvalidArgument, match="already configured differently"):
            eu.configure(TENANT, sku, "eventual", list(ZONES), stock=40)
        assert cluster.rows("eu", "sku_pools") == rows
    finally:
        cluster.close()


def test_bad_input_is_invalid_argument_and_writes_nothing(zone_databases: ZoneDatabases) -> None:
    cluster = build_cluster(zone_databases.urls)
    eu = cluster.books["eu"]
    try:
        configure_everywhere(cluster, "SKU-1", "strong", 10, owner="eu")
        configure_everywhere(cluster, "SKU-2", "escrow", 10)
        assert eu.reserve(TENANT, "SKU-1", 2).granted
        before = {z: (cluster.rows(z, "sku_pools"), cluster.rows(z, "pool_transfers")) for z in ZONES}
        for quantity in (0, -1, MAX_QUANTITY + 1, 10**18, True, 2.5, "3"):
            for call in (eu.reserve, eu.release, eu.commit, cluster.books["us"].reserve):
                with pytest.raises(InvalidArgument, match="quantity"):
                    call(TENANT, "SKU-1", quantity)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="exceeds the 2 units held"):
            eu.commit(TENANT, "SKU-1", 3)
        with pytest.raises(InvalidArgument, match="unknown sku"):
            eu.reserve(TENANT, "SKU-404", 1)
        with pytest.raises(InvalidArgument, match="sku"):
            eu.reserve(TENANT, "not a sku!", 1)
        with pytest.raises(InvalidArgument, match="tenant"):
            eu.reserve("Not A Tenant", "SKU-1", 1)
        with pytest.raises(InvalidArgument, match="zone"):
            eu.configure(TENANT, "SKU-3", "escrow", ["us", "apac"], stock=10)  # eu does not sell it
        with pytest.raises(InvalidArgument, match="zones"):
            eu.configure(TENANT, "SKU-3", "escrow", ["eu", "Mars!"], stock=10)
        with pytest.raises(InvalidArgument, match="strategy"):
            eu.configure(TENANT, "SKU-3", "optimistic", list(ZONES), stock=10)
        for stock in (-1, 10**10):
            with pytest.raises(InvalidArgument, match="stock"):
                eu.configure(TENANT, "SKU-3", "escrow", list(ZONES), stock=stock)
        with pytest.raises(InvalidArgument, match="quotas"):
            eu.configure(TENANT, "SKU-3", "escrow", list(ZONES), stock=10, quotas=[3, 3])
        with pytest.raises(InvalidArgument, match="zone"):
            eu.rebalance(TENANT, "SKU-2", RebalanceRequest("apac", 5))
        with pytest.raises(InvalidArgument, match="quantity"):
            eu.rebalance(TENANT, "SKU-2", RebalanceRequest("us", 0))
        with pytest.raises(InvalidArgument, match="only escrow"):
            eu.rebalance(TENANT, "SKU-1", RebalanceRequest("us", 1))
        with pytest.raises(InvalidArgument, match="zone"):
            eu.peers.book("apac")
        assert {z: (cluster.rows(z, "sku_pools"), cluster.rows(z, "pool_transfers")) for z in ZONES} == before
    finally:
        cluster.close()


def test_decisions_join_the_callers_transaction(zone_databases: ZoneDatabases) -> None:
    cluster = build_cluster(zone_databases.urls)
    eu, us = cluster.books["eu"], cluster.books["us"]
    try:
        configure_everywhere(cluster, "SKU-1", "escrow", 10)
        configure_everywhere(cluster, "SKU-2", "strong", 10, owner="eu")
        rows = cluster.rows("eu", "sku_pools")

        def order_fails_later(uow: SqlUnitOfWork) -> None:
            assert eu.reserve_in(uow, TENANT, "SKU-1", 3, 1).granted
            raise LookupError("a later line of the order is refused")

        with pytest.raises(LookupError):
            cluster.runners["eu"].run(order_fails_later)
        assert cluster.rows("eu", "sku_pools") == rows  # rolled back with the caller's transaction
        forward = cluster.runners["us"].run(lambda uow: us.reserve_in(uow, TENANT, "SKU-2", 2, 1))
        assert (forward.verdict, forward.forward_to) == (Verdict.FORWARD, "eu")
        granted = us.reserve(TENANT, "SKU-2", 2)  # the cross-zone call into eu's database
        assert granted.granted and granted.zone == "eu"
        slices = {s.zone: s for s in eu.global_summary(TENANT, "SKU-2").slices}
        assert (slices["eu"].held, slices["us"].held) == (2, 0)
        with cluster.engines["us"].connect() as conn:
            stored = SqlPoolStore(conn).get(TENANT, "SKU-2", "us")
        assert stored is not None and stored.version == 1  # nothing written in the non-owner zone
    finally:
        cluster.close()


def test_lease_rules_and_the_slice_version_check(zone_databases: ZoneDatabases) -> None:
    cluster = build_cluster(zone_databases.urls)
    engine, t0, ttl = cluster.engines["eu"], 1_000_000, 5_000_000
    try:
        with engine.begin() as conn:
            assert leases.acquire(conn, "L", "a", 3, ttl, t0)
            assert not leases.acquire(conn, "L", "b", 9, ttl, t0 + 1)  # held and not expired
            assert leases.renew(conn, "L", "a", 3, ttl, t0 + 2)  # expires t0 + 2 + ttl now
            leases.check_lease(conn, "L", "a", 3, t0 + ttl + 1)
            with pytest.raises(Fenced):
                leases.check_lease(conn, "L", "a", 3, t0 + 2 + ttl)  # expired at that instant
            assert not leases.acquire(conn, "L", "b", 2, ttl, t0 + 3 * ttl)  # expired, but an older token
            assert leases.acquire(conn, "L", "b", 4, ttl, t0 + 3 * ttl)  # expired, newer token: taken over
            assert not leases.renew(conn, "L", "a", 3, ttl, t0 + 3 * ttl)
            with pytest.raises(Fenced, match="held by b"):
                leases.check_lease(conn, "L", "a", 3, t0 + 3 * ttl)
            assert leases.release(conn, "L", "b", 4) and not leases.release(conn, "L", "b", 4)
            with pytest.raises(Fenced):
                leases.check_lease(conn, "L", "b", 4, t0 + 3 * ttl)  # released
            assert not leases.acquire(conn, "L", "c", 3, ttl, t0 + 3 * ttl)  # the released row still fences
            with pytest.raises(Fenced, match="held by nobody"):
                leases.check_lease(conn, "M", "a", 1, t0)
        configure_everywhere(cluster, "SKU-1", "escrow", 10)
        with engine.begin() as conn:
            store = SqlPoolStore(conn)
            stored = store.get(TENANT, "SKU-1", "eu")
            assert stored is not None and stored.version == 1
            assert store.save(TENANT, "SKU-1", stored.slice, 1, t0) == 2
            with pytest.raises(VersionConflict) as stale:
                store.save(TENANT, "SKU-1", stored.slice, 1, t0)  # written at version 1 by someone else
        assert is_retryable(stale.value)  # the runner re-runs the transaction, as for a 40001
    finally:
        cluster.close()
