"""CreateOrder lines of multi-zone pool SKUs: escrow and eventual decided on this zone's slice in the
order's transaction, strong by a call to its owner zone made before it — with the owner's units
released again when the order does not keep them, and settled on shipment, cancel and expiry."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import psycopg
import pytest

from consistency.inventory import HoldState
from consistency.memory_coordinator import MemoryCoordinator, MemoryEnsemble
from ordermesh.clock import ManualClock
from ordermesh.errors import Contention, InsufficientInventory
from ordermesh.money import Money
from ordermesh.order import Customer, OrderDraft, OrderLine
from ordermesh.retry import RetryPolicy
from ordermesh.status import OrderStatus
from ordermesh.topology import Topology, parse_topology
from region_service.inventory_pools import POOL, PoolLines
from region_service.orders import OrderBook, Principal
from region_service.pools import DirectPeers, PoolBook
from region_service.ports import TransactionRunner
from region_service.storage.engine import make_engine
from region_service.storage.transactions import SqlTransactionRunner
from tests.integration.pool_cluster import ZoneDatabases, zone_databases  # noqa: F401  (fixture)
from tests.integration.test_inventory_book import change, create, render

S = OrderStatus
ACME = Principal("acme", "key-1")
HOLD_S = 300


def topology(urls: dict[str, str]) -> Topology:
    return parse_topology(
        {
            "zones": {
                "eu": {
                    "database": urls["eu"],
                    "regions": {"eu-west": {"endpoint": "127.0.0.1:1", "warehouses": {"dub-1": {}}}},
                },
                "us": {
                    "database": urls["us"],
                    "regions": {"us-east": {"endpoint": "127.0.0.1:2", "warehouses": {"nyc-1": {}}}},
                },
            },
            "residency": {"countries": {"DE": "eu", "US": "us"}},
            "tenants": {"acme": {"inventory": {"hold_seconds": HOLD_S}}},
        }
    )


@dataclass
class Zones:
    books: dict[str, OrderBook]
    pools: dict[str, PoolBook]
    clock: ManualClock

    def pool(self, zone: str, sku: str) -> Any:
        return self.pools[zone].slice("acme", sku)


@pytest.fixture
def zones(zone_databases: ZoneDatabases) -> Iterator[Zones]:  # noqa: F811
    clock = ManualClock()
    topo = topology(zone_databases.urls)
    ensemble = MemoryEnsemble()
    peers = DirectPeers()
    engines = {z: make_engine(url) for z, url in zone_databases.urls.items()}
    books: dict[str, OrderBook] = {}
    pools: dict[str, PoolBook] = {}
    for zone, region in (("eu", "eu-west"), ("us", "us-east")):
        runner = SqlTransactionRunner(engines[zone])
        pools[zone] = PoolBook(zone, runner, peers, MemoryCoordinator(ensemble), clock, holder=region)
        peers.add(pools[zone])
        books[zone] = OrderBook(topo, region, cast(TransactionRunner, runner), clock)
        books[zone].inventory.pool_lines = PoolLines(pools[zone], zone)
    for zone in ("eu", "us"):
        pools[zone].configure("acme", "DROP-S", "strong", ["eu", "us"], owner="us", stock=5)
        pools[zone].configure("acme", "DROP-E", "escrow", ["eu", "us"], stock=10, quotas=[5, 5])
        pools[zone].configure("acme", "DROP-V", "eventual", ["eu", "us"], stock=10)
    books["eu"].inventory.set_stock("acme", "dub-1", "SKU-A", 1, 0)
    try:
        yield Zones(books, pools, clock)
    finally:
        for engine in engines.values():
            engine.dispose()


def test_pool_lines_are_held_by_their_strategy_and_settled_with_the_order(zones: Zones) -> None:
    eu = zones.books["eu"]
    order = create(eu, ACME, "r-1", ("DROP-S", 2), ("DROP-E", 3), ("DROP-V", 4))
    assert order.status is S.ALLOCATED
    holds = {h.sku: h for h in eu.inventory.reservations("acme", order.order_id)}
    assert {(h.warehouse, h.quantity, h.state) for h in holds.values()} == {
        (POOL, 2, HoldState.HELD),
        (POOL, 3, HoldState.HELD),
        (POOL, 4, HoldState.HELD),
    }
    owner = zones.pool("us", "DROP-S")  # strong: the count moved at the owner zone, not here
    assert (owner.free, owner.held) == (3, 2)
    assert (zones.pool("eu", "DROP-E").free, zones.pool("eu", "DROP-E").held) == (2, 3)
    # a replay holds nothing more anywhere
    assert create(eu, ACME, "r-1", ("DROP-S", 2), ("DROP-E", 3), ("DROP-V", 4)) == order
    assert zones.pool("us", "DROP-S").held == 2
    shipped = change(eu, ACME, order, S.SHIPPED, "ship-1")
    assert shipped.status is S.SHIPPED
    owner = zones.pool("us", "DROP-S")
    assert (owner.free, owner.held, owner.committed) == (3, 0, 2)
    escrow = zones.pool("eu", "DROP-E")
    assert (escrow.free, escrow.held, escrow.committed) == (2, 0, 3)


def test_a_refused_order_gives_its_owner_grant_back(zones: Zones) -> None:
    eu = zones.books["eu"]
    with pytest.raises(InsufficientInventory):  # strong granted at the owner, SKU-A short: rejected
        create(eu, ACME, "r-1", ("DROP-S", 2), ("SKU-A", 5))
    owner = zones.pool("us", "DROP-S")
    assert (owner.free, owner.held) == (5, 0)
    with pytest.raises(InsufficientInventory):  # escrow granted here, SKU-A short: undone in the txn
        create(eu, ACME, "r-2", ("DROP-E", 2), ("SKU-A", 5))
    assert zones.pool("eu", "DROP-E").free == 5
    with pytest.raises(InsufficientInventory):  # more than the owner's whole count
        create(eu, ACME, "r-3", ("DROP-S", 6))
    assert zones.pool("us", "DROP-S").free == 5


def test_cancel_and_expiry_release_pool_holds(zones: Zones) -> None:
    eu, us = zones.books["eu"], zones.books["us"]
    first = create(eu, ACME, "r-1", ("DROP-S", 2), ("DROP-E", 1))
    change(eu, ACME, first, None, "cancel-1")
    assert (zones.pool("us", "DROP-S").free, zones.pool("eu", "DROP-E").free) == (5, 5)
    us_draft = OrderDraft(Customer("c-2", "US"), (OrderLine("DROP-S", 1, Money(100, "USD")),))
    at_owner = pickle.loads(us.create(ACME, "r-2", "fp-r-2", us_draft, render).payload)  # decided locally
    assert at_owner.status is S.ALLOCATED and zones.pool("us", "DROP-S").held == 1
    away = create(eu, ACME, "r-3", ("DROP-S", 3))
    assert zones.pool("us", "DROP-S").held == 4
    zones.clock.advance(HOLD_S)
    expired = eu.reap_holds() + us.reap_holds()
    assert {h.order_id for h in expired} == {at_owner.order_id, away.order_id}
    assert (zones.pool("us", "DROP-S").free, zones.pool("us", "DROP-S").held) == (5, 0)
    assert eu.get(ACME, away.order_id).status is S.ON_HOLD


def test_owner_calls_follow_only_the_attempt_that_commits(zones: Zones) -> None:
    """A transaction re-run on a conflict decides again: the owner sees one grant kept and one
    release, however many attempts it took; a transaction that never commits gives its grant back."""
    eu = zones.books["eu"]
    attempts: list[int] = []

    def conflict_once(attempt: int) -> None:
        attempts.append(attempt)
        if attempt == 1:
            raise psycopg.errors.SerializationFailure("injected")

    engine = cast(SqlTransactionRunner, eu.runner).engine
    flaky = OrderBook(
        eu.topology,
        "eu-west",
        cast(TransactionRunner, SqlTransactionRunner(engine, inject=conflict_once)),
        zones.clock,
    )
    flaky.inventory.pool_lines = eu.inventory.pool_lines
    order = create(flaky, ACME, "r-1", ("DROP-S", 2))
    assert attempts[-2:] == [1, 2] and zones.pool("us", "DROP-S").held == 2
    change(flaky, ACME, order, None, "cancel-1")
    assert (zones.pool("us", "DROP-S").free, zones.pool("us", "DROP-S").held) == (5, 0)

    def always(_: int) -> None:
        raise psycopg.errors.SerializationFailure("injected")

    giving_up = SqlTransactionRunner(engine, RetryPolicy(max_attempts=2), inject=always)
    doomed = OrderBook(eu.topology, "eu-west", cast(TransactionRunner, giving_up), zones.clock)
    doomed.inventory.pool_lines = eu.inventory.pool_lines
    with pytest.raises(Contention):
        create(doomed, ACME, "r-2", ("DROP-S", 3))
    assert (zones.pool("us", "DROP-S").free, zones.pool("us", "DROP-S").held) == (5, 0)
