"""CreateOrder batches on the event loop (PostgreSQL): batched, idempotent, re-run on conflicts and on
a lost connection, bounded, and the customer tier stored like every other field."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.client import StorefrontClient
from ordermesh.errors import Contention
from region_service.server import RegionServer
from region_service.storage import pg_create
from tests.integration.region_harness import (
    ACME_KEY,
    GLOBEX_KEY,
    RegionThread,
    create_request,
    eu_database,
    execute,
    make_topology,
    raw_stub,
    row_counts,
    rpc_failure,
    running_region,
)

Batch = Callable[..., Any]


@pytest.fixture
def pg_region(postgres_url: str, tmp_path: Path) -> Iterator[RegionThread]:
    with running_region(make_topology(postgres_url, tmp_path), seal_interval_s=3600) as region:
        yield region


def _server(region: RegionThread) -> RegionServer:
    assert region.server is not None
    return region.server


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the batches the loop sent to PostgreSQL (the real statement still runs)."""
    sizes: list[int] = []
    real: Batch = pg_create.create_batch_async

    async def counting(conn: Any, batch: pg_create.NewOrders) -> Any:
        sizes.append(len(batch.keys))
        return await real(conn, batch)

    monkeypatch.setattr(pg_create, "create_batch_async", counting)
    return sizes


def _in_threads(n: int, call: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            results[i] = call(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_creates_are_batched_on_the_loop_and_each_stored_once(
    pg_region: RegionThread, batches: list[int]
) -> None:
    assert _server(pg_region).servicer is not None and _server(pg_region).servicer.on_loop is not None
    acme = StorefrontClient(pg_region.target, ACME_KEY)
    globex = StorefrontClient(pg_region.target, GLOBEX_KEY)
    try:
        # 48 distinct orders over two tenants (two shards), plus 16 concurrent retries of one request.
        def create(i: int) -> pb.Order:
            client = acme if i % 2 else globex
            if i >= 48:  # the same request, sent 8 times by each tenant
                return client.create_order("c-1", "DE", [_line()], request_id="twin")
            return client.create_order(f"c-{i}", "DE", [_line()], request_id=f"r-{i}")

        results = _in_threads(64, create)
        assert not [r for r in results if isinstance(r, Exception)], results
        twins = {r.order_id for i, r in enumerate(results) if i >= 48 and i % 2}
        assert len(twins) == 1  # acme's 8 retries of "twin": one order
        for i, order in enumerate(results):
            client = acme if i % 2 else globex
            assert client.get_order(order.order_id) == order
    finally:
        acme.close()
        globex.close()
    url = _server(pg_region).config.topology.zones["eu"].database_url
    # 48 distinct + acme's twin + globex's twin (same request_id, other tenant: its own key)
    assert row_counts(url) == {"orders": 50, "order_events": 50, "idempotency_keys": 50}
    assert sum(batches) >= 50 and len(batches) < 64  # went through the loop's statement, in batches


def test_a_conflict_reruns_the_whole_batch(pg_region: RegionThread, monkeypatch: pytest.MonkeyPatch) -> None:
    real: Batch = pg_create.create_batch_async
    failures = {"left": 2}

    async def conflicting(*args: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise psycopg.errors.SerializationFailure("could not serialize access (injected)")
        return await real(*args)

    monkeypatch.setattr(pg_create, "create_batch_async", conflicting)
    runner = _server(pg_region).runner
    retries = runner.stats.retries
    with StorefrontClient(pg_region.target, ACME_KEY) as acme:
        order = acme.create_order("c-1", "DE", [_line()], request_id="conflict-1")
        assert acme.get_order(order.order_id) == order
    assert runner.stats.retries == retries + 2
    url = _server(pg_region).config.topology.zones["eu"].database_url
    assert row_counts(url) == {"orders": 1, "order_events": 1, "idempotency_keys": 1}


def test_endless_conflicts_give_up_as_aborted_and_write_nothing(
    pg_region: RegionThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def always(*_args: Any) -> Any:
        raise psycopg.errors.SerializationFailure("could not serialize access (injected)")

    monkeypatch.setattr(pg_create, "create_batch_async", always)
    runner = _server(pg_region).runner
    before = runner.stats
    with raw_stub(pg_region.target, ACME_KEY) as raw:
        code, err, _ = rpc_failure(
            lambda: raw.stub.CreateOrder(create_request("gives-up"), metadata=raw.metadata, timeout=30)
        )
    assert code == grpc.StatusCode.ABORTED and isinstance(err, Contention)
    after = runner.stats
    gave_up = after.contention_failures - before.contention_failures  # one per gRPC attempt (the
    assert gave_up >= 1  # channel's retry policy re-sends ABORTED), each after max_attempts tries
    assert after.attempts - before.attempts == gave_up * runner.policy.max_attempts
    url = _server(pg_region).config.topology.zones["eu"].database_url
    assert row_counts(url) == {"orders": 0, "order_events": 0, "idempotency_keys": 0}


def test_connections_killed_under_the_pool_are_replaced_without_an_error(pg_region: RegionThread) -> None:
    url = _server(pg_region).config.topology.zones["eu"].database_url
    runner = _server(pg_region).runner
    with StorefrontClient(pg_region.target, ACME_KEY) as acme:
        first = acme.create_order("c-1", "DE", [_line()], request_id="kill-1")
        retries = runner.stats.retries
        # The pool's idle connections die (a database restart, a proxy timeout): the next batch's
        # statement fails on a dead connection and is re-run on a fresh one.
        execute(
            url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'ordermesh' AND pid <> pg_backend_pid()",
        )
        second = acme.create_order("c-1", "DE", [_line()], request_id="kill-2")
        assert runner.stats.retries > retries  # re-run by the server, not answered UNAVAILABLE
        assert acme.get_order(second.order_id) == second and acme.get_order(first.order_id) == first
    assert row_counts(url) == {"orders": 2, "order_events": 2, "idempotency_keys": 2}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_customer_tier_is_stored(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = eu_database(backend, request, tmp_path)
    topology = make_topology(url, tmp_path)
    with (
        running_region(topology, seal_interval_s=3600) as region,
        StorefrontClient(region.target, ACME_KEY) as acme,
    ):
        order = acme.create_order("c-1", "DE", [_line()], tier=pb.GOLD, request_id=str(uuid.uuid4()))
        assert order.customer.tier == pb.GOLD
        assert acme.get_order(order.order_id).customer.tier == pb.GOLD


def _line() -> Any:
    from ordermesh.money import Money
    from ordermesh.order import OrderLine

    return OrderLine("SKU-1", 2, Money(1999, "EUR"))


async def test_the_prepared_statement_reports_errors_as_psycopg_does(postgres_url: str) -> None:
    """The batch statement runs through libpq directly: prepared once per connection; a database
    error comes back as psycopg's own error class (so the retry policy reads its SQLSTATE), and the
    connection stays usable."""
    from region_service.storage.migrate import upgrade
    from region_service.storage.pg_async import AsyncPg

    upgrade(postgres_url)
    pool = AsyncPg(postgres_url, size=1)
    try:
        async with pool.connection() as conn:
            too_big = _batch("r-big", version=2**70)  # no INT8 holds it
            with pytest.raises(psycopg.errors.NumericValueOutOfRange):
                await pg_create.create_batch_async(conn, too_big)
            assert not conn.broken
            assert await pg_create.create_batch_async(conn, _batch("r-ok")) == (0, {"r-ok"})
            assert await pg_create.create_batch_async(conn, _batch("r-ok")) == (0, set())  # replay: taken
            cursor = await conn.execute("SELECT count(*) FROM pg_prepared_statements")
            assert await cursor.fetchone() == (1,)  # prepared once, used three times
    finally:
        await pool.close()


def _batch(request_id: str, version: int = 1) -> pg_create.NewOrders:
    """One new order of acme in eu, bucket 1, as a batch at epoch 0."""
    import dataclasses

    from ordermesh.audit import EventType, OrderEvent
    from ordermesh.ids import new_order_id
    from ordermesh.order import Customer, Order, OrderDraft
    from ordermesh.shard import ShardKey
    from region_service.ports import StoredResponse

    shard = ShardKey("acme", "eu", 1)
    draft = OrderDraft(Customer("c-1", "DE"), (_line(),))
    order = Order.create(new_order_id("eu", 1), "acme", "eu", 1, draft, 5)
    order = dataclasses.replace(order, version=version)
    event = OrderEvent(
        new_order_id("eu", 1), shard, order.order_id, 1, EventType.CREATED, None, order.status, "t", "", 5
    )
    key = ("acme", "CreateOrder", request_id, StoredResponse("f" * 64, b"answer"))
    return pg_create.NewOrders(str(shard), 0, [key], [order], [event], 5, 10)
