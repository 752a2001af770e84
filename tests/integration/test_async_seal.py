"""The audit-chain sealer on the event loop (storage.pg_seal), on a real PostgreSQL: it seals what
creates wrote into the same chains as the synchronous sealer, never forks a chain when both seal one
shard at once (its own REPEATABLE READ pool included), is never the reason a SERIALIZABLE writer
fails, re-runs a transaction that met a serialization failure, gives up after max_attempts, and a
PostgreSQL region server runs it on its loop."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import text

from ordermesh.audit import GENESIS_HASH
from ordermesh.client import StorefrontClient
from ordermesh.clock import ManualClock
from ordermesh.errors import Contention, DatabaseUnavailable
from ordermesh.money import Money
from ordermesh.order import Customer, OrderDraft, OrderLine
from ordermesh.retry import RetryPolicy
from ordermesh.shard import ShardKey
from ordermesh.topology import parse_topology
from region_service.create_batch import NewOrder, write_creates
from region_service.orders import OrderBook, Principal
from region_service.ports import TransactionRunner
from region_service.storage import chain, pg_async
from region_service.storage.engine import make_engine
from region_service.storage.migrate import upgrade
from region_service.storage.pg_async import AsyncPg, conninfo
from region_service.storage.pg_seal import LoopSealer, sealer_pool
from region_service.storage.repositories import SqlUnitOfWork
from tests.integration.region_harness import ACME_KEY, make_topology, running_region
from tests.integration.storage_backends import BASE_US, Backend, new_event

SHARD = ShardKey("acme", "eu", 3)
FAST = RetryPolicy(max_attempts=4, base_delay_s=0.0005, max_delay_s=0.002)
# Makes an event that is sealed a second time fail loudly, whichever sealer does it (the test's
# "sealed exactly once"): a re-seal is an UPDATE of a row whose sequence is already set.
REFUSE_RESEAL = [
    "CREATE FUNCTION refuse_reseal() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN RAISE EXCEPTION 'event % sealed twice', OLD.event_id; END $$",
    "CREATE TRIGGER sealed_once BEFORE UPDATE ON order_events FOR EACH ROW"
    " WHEN (OLD.sequence IS NOT NULL) EXECUTE FUNCTION refuse_reseal()",
]


@pytest.fixture
def backend(postgres_url: str) -> Iterator[Backend]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        yield Backend("postgresql", postgres_url, engine)
    finally:
        engine.dispose()


@pytest.fixture
async def pg(backend: Backend) -> AsyncIterator[AsyncPg]:
    pool = AsyncPg(backend.url, size=2)
    try:
        yield pool
    finally:
        await pool.close()


def _append(backend: Backend, count: int, start_us: int = BASE_US) -> None:
    def work(uow: SqlUnitOfWork) -> None:
        for i in range(count):
            uow.events.append(new_event(SHARD, f"eu-3-order{i % 3}", 1 + i // 3, start_us + i))

    backend.runner().run(work)


def _chains(backend: Backend) -> list[tuple[Any, ...]]:
    """Every event's place in its chain, and the chain heads."""
    with backend.engine.connect() as conn:
        events = conn.execute(text(
            "SELECT shard_key, sequence, event_id, prev_hash, chain_hash FROM order_events"
            " ORDER BY shard_key, sequence, event_id"
        ))  # fmt: skip
        heads = conn.execute(text("SELECT shard_key, last_sequence, last_hash FROM shard_chains ORDER BY 1"))
        return [tuple(r) for r in events] + [tuple(r) for r in heads]


def _sequences(backend: Backend) -> list[int]:
    with backend.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT sequence FROM order_events ORDER BY sequence"))]


def _creates(backend: Backend, per_tenant: int) -> dict[ShardKey, int]:
    """CreateOrder batches of two tenants (one shard each) through the real batch writer."""
    topology = parse_topology({
        "zones": {"eu": {"database": backend.url, "regions": {"eu-west": {"endpoint": "127.0.0.1:1"}}}},
        "residency": {"countries": {"DE": "eu"}},
        "tenants": {"acme": {"zones": ["eu"]}, "globex": {"zones": ["eu"]}},
    })  # fmt: skip
    book = OrderBook(topology, "eu-west", cast(TransactionRunner, backend.runner()), ManualClock())
    draft = OrderDraft(Customer("c-1", "DE"), (OrderLine("SKU-1", 1, Money(100, "EUR")),))
    shards = {}
    for tenant in ("acme", "globex"):
        shard = topology.shard(tenant, "eu")
        who = Principal(tenant, "key-1")
        for first in range(0, per_tenant, 50):  # batches of 50, as group commit would form them
            items = [
                NewOrder(who, f"{tenant}-{i}", f"fp-{i}", draft, lambda order: repr(order).encode())
                for i in range(first, min(first + 50, per_tenant))
            ]
            assert all(not isinstance(a, Exception) for a in write_creates(book, shard, items))
        shards[shard] = per_tenant
    return shards


async def test_seals_what_creates_wrote_into_the_chains_the_thread_sealer_makes(
    backend: Backend, pg: AsyncPg
) -> None:
    shards = _creates(backend, 150)
    # Events whose clocks disagree (version 2 stamped before version 1): the chain keeps each order's
    # version order, exactly as the synchronous sealer does.
    acme = next(s for s in shards if s.tenant == "acme")
    skewed = [new_event(acme, f"eu-{acme.bucket}-skew{i}", 2 - i % 2, BASE_US + 40 - i) for i in range(10)]
    backend.runner().run(lambda uow: [uow.events.append(e) for e in skewed])
    shards[acme] += 10
    runner = backend.runner()
    sealer = LoopSealer(pg, runner, random.Random(7), batch=64)

    assert await sealer.seal_pending() == 310
    # one listing, then ceil(160 / 64) + ceil(150 / 64) transactions of at most 64 events
    assert runner.stats.transactions == 1 + 3 + 3 and runner.stats.retries == 0
    assert await sealer.seal_pending() == 0
    for shard, count in shards.items():
        report = chain.verify_shard(backend.engine, shard)
        assert (report.ok, report.checked, report.unsealed) == (True, count, 0), report.problem
    on_loop = _chains(backend)
    assert [r[1] for r in on_loop if r[0] == str(acme)][:3] == [1, 2, 3]
    assert on_loop[0][3] == GENESIS_HASH

    # The same events sealed again from scratch by the synchronous sealer: the very same chains.
    backend.execute("UPDATE order_events SET sequence = NULL, prev_hash = NULL, chain_hash = NULL")
    backend.execute("DELETE FROM shard_chains")
    assert chain.seal_pending(backend.engine, batch=64) == 310
    assert _chains(backend) == on_loop


async def test_loop_and_thread_sealers_of_one_shard_never_fork_its_chain(
    backend: Backend, pg: AsyncPg
) -> None:
    """Two regions of a zone share its database: one seals on its loop, one in a thread, while a
    writer keeps appending; every event ends up sealed exactly once, in one gapless chain."""
    for sql in REFUSE_RESEAL:
        backend.execute(sql)
    _append(backend, 60)
    loop_runner, thread_runner = (
        backend.runner(policy=RetryPolicy(20)),
        backend.runner(policy=RetryPolicy(20)),
    )
    sealer = LoopSealer(pg, loop_runner, random.Random(1), batch=7)
    sealed = {"loop": 0, "thread": 0}
    start = threading.Barrier(3, timeout=30)  # the three start together

    def thread_sealer() -> None:
        start.wait()
        for _ in range(40):
            sealed["thread"] += chain.seal_shard(thread_runner, SHARD, batch=7)

    def writer() -> None:
        start.wait()
        for i in range(20):
            _append(backend, 2, start_us=BASE_US + 1000 + i)

    async def loop_sealer() -> None:
        await asyncio.to_thread(start.wait)
        for _ in range(40):
            sealed["loop"] += await sealer.seal_shard(SHARD)

    await asyncio.gather(asyncio.to_thread(thread_sealer), asyncio.to_thread(writer), loop_sealer())
    rest = chain.seal_pending(backend.engine)

    assert sealed["loop"] > 0 and sealed["thread"] > 0, sealed
    assert sealed["loop"] + sealed["thread"] + rest == 100  # no event counted by two sealers
    assert _sequences(backend) == list(range(1, 101))
    report = chain.verify_shard(backend.engine, SHARD)
    assert (report.ok, report.checked, report.unsealed) == (True, 100, 0), report.problem
    with pytest.raises(Exception, match="sealed twice"):  # the trigger really guards re-seals
        backend.execute("UPDATE order_events SET sequence = sequence WHERE sequence = 1")
    print("sealer retries: loop", loop_runner.stats.retries, "thread", thread_runner.stats.retries)


async def test_two_sealer_pools_of_one_shard_never_fork_its_chain(backend: Backend) -> None:
    """Two regions' sealers on their own REPEATABLE READ pools, sealing one shard at once while a
    writer appends: the chain head row is where they meet, so each event is sealed exactly once."""
    for sql in REFUSE_RESEAL:
        backend.execute(sql)
    _append(backend, 40)
    pools = [sealer_pool(backend.url), sealer_pool(backend.url)]
    runners = [backend.runner(policy=RetryPolicy(30)) for _ in pools]
    sealers = [LoopSealer(pools[i], runners[i], random.Random(i), batch=5) for i in range(2)]
    sealed = [0, 0]

    async def seal(i: int) -> None:
        for _ in range(30):
            sealed[i] += await sealers[i].seal_shard(SHARD)
            await asyncio.sleep(0)

    async def write() -> None:
        for i in range(20):
            await asyncio.to_thread(_append, backend, 2, BASE_US + 1000 + i)

    try:
        await asyncio.gather(seal(0), seal(1), write())
        rest = await sealers[0].seal_pending()
    finally:
        for pool in pools:
            await pool.close()
    assert sum(sealed) + rest == 80  # (which sealer wins each race is up to the loop's interleaving)
    assert _sequences(backend) == list(range(1, 81))
    report = chain.verify_shard(backend.engine, SHARD)
    assert (report.ok, report.checked, report.unsealed) == (True, 80, 0), report.problem
    print("sealer retries:", [r.stats.retries for r in runners])


async def test_a_seal_is_never_the_reason_a_serializable_writer_fails(backend: Backend) -> None:
    """Write skew through a chain: a SERIALIZABLE writer reads the shard's chain head, a seal of the
    shard commits, then the writer appends an event to the range the seal read. A SERIALIZABLE seal
    closes a cycle, so PostgreSQL cancels the writer; the sealer's own pool (REPEATABLE READ) takes
    no SIREAD locks, so the writer commits and the next pass seals its event."""
    insert = (
        "INSERT INTO order_events (event_id, shard_key, order_id, order_version, event_type,"
        " from_status, to_status, actor, reason, occurred_us)"
        " VALUES (%s, %s, 'eu-3-late', 1, 'created', NULL, 'pending', 'tester', '', %s)"
    )
    outcomes: dict[str, str] = {}
    for n, (name, pool) in enumerate(
        (("serializable", AsyncPg(backend.url, size=1)), ("sealer_pool", sealer_pool(backend.url)))
    ):
        _append(backend, 4, start_us=BASE_US + 100 * n)
        sealer = LoopSealer(pool, backend.runner(policy=FAST), random.Random(n))
        try:
            with psycopg.connect(conninfo(backend.url), autocommit=True) as writer:
                writer.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                writer.execute("SELECT last_sequence FROM shard_chains WHERE shard_key = %s", (str(SHARD),))
                assert await sealer.seal_shard(SHARD) == 4
                try:
                    writer.execute(insert, (f"late-{n}", str(SHARD), BASE_US + 100 * n + 50))
                    writer.execute("COMMIT")
                    outcomes[name] = "committed"
                except psycopg.errors.SerializationFailure:
                    outcomes[name] = "cancelled"
            if outcomes[name] == "committed":
                assert await sealer.seal_pending() == 1
        finally:
            await pool.close()
    assert outcomes == {"serializable": "cancelled", "sealer_pool": "committed"}
    report = chain.verify_shard(backend.engine, SHARD)
    assert (report.ok, report.checked, report.unsealed) == (True, 9, 0), report.problem



@pytest.mark.parametrize("isolation", ["serializable", "sealer_pool"])
async def test_a_serialization_failure_reruns_the_transaction_from_the_new_head(
    backend: Backend, pg: AsyncPg, monkeypatch: pytest.MonkeyPatch, isolation: str
) -> None:
    """A competing sealer commits the first 5 events while the loop's transaction is between its
    reads and its writes: the loop's UPDATE meets a real 40001 (a read/write dependency under
    SERIALIZABLE, a concurrent update under the sealer pool's REPEATABLE READ), and the re-run seals
    the other 25."""
    _append(backend, 30)
    real_seal, calls = chain.seal, itertools.count(1)

    def seal_meeting_a_competitor(*args: Any) -> Any:
        if next(calls) == 1:  # the loop's first attempt: the competitor's own call is the 2nd
            assert chain.seal_shard(backend.engine, SHARD, batch=5) == 5
        return real_seal(*args)

    monkeypatch.setattr(chain, "seal", seal_meeting_a_competitor)
    conflicts: list[str | None] = []
    real_is_retryable = pg_async.is_retryable

    def recording(exc: BaseException) -> bool:
        conflicts.append(getattr(exc, "sqlstate", None))
        return real_is_retryable(exc)

    monkeypatch.setattr(pg_async, "is_retryable", recording)
    runner = backend.runner(policy=FAST)

    pool = pg if isolation == "serializable" else sealer_pool(backend.url)
    try:
        assert await LoopSealer(pool, runner, random.Random(3), batch=50).seal_shard(SHARD) == 25
    finally:
        if pool is not pg:
            await pool.close()
    assert conflicts == ["40001"]
    stats = runner.stats
    assert (stats.attempts, stats.retries, stats.transactions) == (2, 1, 1)
    assert _sequences(backend) == list(range(1, 31))
    report = chain.verify_shard(backend.engine, SHARD)
    assert (report.ok, report.checked, report.unsealed) == (True, 30, 0), report.problem


async def test_a_conflict_that_never_ends_gives_up_with_contention_and_seals_nothing(
    backend: Backend, pg: AsyncPg, monkeypatch: pytest.MonkeyPatch
) -> None:
    _append(backend, 12)
    attempts: list[int] = []

    def always_conflicts(*args: Any) -> Any:
        attempts.append(1)
        raise psycopg.errors.SerializationFailure("injected: could not serialize access")

    monkeypatch.setattr(chain, "seal", always_conflicts)
    runner = backend.runner(policy=FAST)
    sealer = LoopSealer(pg, runner, random.Random(5))

    with pytest.raises(Contention) as gave_up:
        await sealer.seal_pending()
    assert len(attempts) == FAST.max_attempts == 4
    assert gave_up.value.metadata["attempts"] == "4" and "injected" in str(gave_up.value)
    assert (runner.stats.retries, runner.stats.contention_failures) == (3, 1)
    report = chain.verify_shard(backend.engine, SHARD)
    assert (report.checked, report.unsealed) == (0, 12)  # every attempt rolled back
    assert backend.scalar("SELECT count(*) FROM shard_chains") == 0

    # Any other error is not retried: it propagates from the first attempt.
    def broken(*args: Any) -> Any:
        attempts.append(1)
        raise ValueError("not a conflict")

    monkeypatch.setattr(chain, "seal", broken)
    with pytest.raises(ValueError):
        await sealer.seal_shard(SHARD)
    assert len(attempts) == 5

    monkeypatch.undo()  # the pooled connection survived all of it
    assert await sealer.seal_shard(SHARD) == 12
    assert chain.verify_shard(backend.engine, SHARD).checked == 12


def test_a_postgresql_region_seals_on_its_event_loop_and_outlives_failures(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    threads: list[str] = []
    real = LoopSealer.seal_pending

    async def watched(self: LoopSealer, max_shards: int = 1000) -> int:
        threads.append(threading.current_thread().name)
        if len(threads) <= 2:
            raise DatabaseUnavailable("injected outage")
        return await real(self, max_shards)

    monkeypatch.setattr(LoopSealer, "seal_pending", watched)

    def not_in_a_thread(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("the periodic sealer ran the synchronous seal_pending")

    monkeypatch.setattr(chain, "seal_pending", not_in_a_thread)
    caplog.set_level(logging.WARNING, logger="region_service.server")
    engine = make_engine(postgres_url)
    try:
        with running_region(make_topology(postgres_url, tmp_path), seal_interval_s=0.05) as region:
            client = StorefrontClient(region.target, ACME_KEY, timeout=10)
            line = OrderLine("SKU-1", 1, Money(100, "EUR"))
            created = [client.create_order("c-1", "DE", [line]) for _ in range(5)]
            shard = region.config.topology.shard("acme", "eu")
            deadline = time.monotonic() + 20
            while (report := chain.verify_shard(engine, shard)).checked < len(created):
                assert time.monotonic() < deadline, f"not sealed: {report}"
                time.sleep(0.05)
            assert (report.ok, report.unsealed) == (True, 0)
            assert _server_connections(engine) >= 1
        assert set(threads) == {"region-server"}  # the loop's thread, never a worker's
        assert any("seal failed: injected outage" in r.getMessage() for r in caplog.records)
        deadline = time.monotonic() + 5  # a closed connection's backend takes a moment to exit
        while _server_connections(engine) > 0:  # stop() closed them all, the sealer's included
            assert time.monotonic() < deadline, "a region connection outlived stop()"
            time.sleep(0.05)
    finally:
        engine.dispose()


def _server_connections(engine: Any) -> int:
    """Open connections of region code to this database, other than the one asking."""
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'ordermesh' AND pid <> pg_backend_pid()"
        )).scalar_one())  # fmt: skip
