"""64 concurrent storefront clients against one hot SKU, with injected serialization failures and a
reaper running alongside: stock is conserved, nothing is oversold, every acknowledged order's holds
match its status (SQLite and real PostgreSQL in SERIALIZABLE)."""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import psycopg
import pytest

from consistency.inventory import HoldState
from ordermesh.clock import ManualClock
from ordermesh.errors import Contention, InsufficientInventory, InvalidTransition
from ordermesh.order import Order
from ordermesh.retry import RetryPolicy
from ordermesh.status import OrderStatus
from region_service.orders import OrderBook
from region_service.ports import TransactionRunner
from tests.integration.storage_backends import Backend, backend  # noqa: F401  (fixture)
from tests.integration.test_inventory_book import ACME, change, create, topology

S = OrderStatus
CLIENTS = 64
OPS = 4
STOCK = {("SKU-HOT", "dub-1"): (60, 0), ("SKU-HOT", "fra-1"): (25, 5), ("SKU-X", "dub-1"): (40, 0)}


def test_64_clients_conserve_stock_and_never_oversell(backend: Backend) -> None:  # noqa: F811
    rng = random.Random(2026)
    lock = threading.Lock()
    injected = Counter[str]()

    def chaos(attempt: int) -> None:  # one attempt in five aborts right before COMMIT
        with lock:
            fail = rng.random() < 0.2
        if fail:
            injected["aborts"] += 1
            raise psycopg.errors.SerializationFailure("injected: could not serialize access")

    clock = ManualClock()
    policy = RetryPolicy(max_attempts=50, base_delay_s=0.001, max_delay_s=0.02)
    runner = backend.runner(policy=policy, inject=chaos)
    book = OrderBook(topology(backend.url), "eu-west", cast(TransactionRunner, runner), clock)
    setup = OrderBook(topology(backend.url), "eu-west", cast(TransactionRunner, backend.runner()), clock)
    for (sku, wh), (on_hand, safety) in STOCK.items():
        setup.inventory.set_stock("acme", wh, sku, on_hand, safety)

    acknowledged: list[Order] = []
    outcomes = Counter[str]()
    barrier = threading.Barrier(CLIENTS + 1)
    stop = threading.Event()

    def client(n: int) -> None:
        local = random.Random(n)
        barrier.wait()
        for op in range(OPS):
            lines = [("SKU-HOT", local.randint(1, 3))] + ([("SKU-X", 1)] if local.random() < 0.3 else [])
            try:
                order = create(book, ACME, f"c{n}-{op}", *lines)
            except InsufficientInventory:
                outcomes["refused"] += 1
                continue
            except Contention:
                outcomes["contention"] += 1
                continue
            with lock:
                acknowledged.append(order)
            roll = local.random()
            try:
                if roll < 0.3:
                    change(book, ACME, order, None, f"cancel-{n}-{op}")
                    outcomes["cancelled"] += 1
                elif roll < 0.55:
                    change(book, ACME, order, S.SHIPPED, f"ship-{n}-{op}")
                    outcomes["shipped"] += 1
            except InvalidTransition:  # its hold expired under the reaper first
                outcomes["expired-before-change"] += 1
            except Contention:
                outcomes["contention"] += 1

    def reaper() -> None:
        barrier.wait()
        while not stop.is_set():
            clock.advance(60)  # holds last 600 s: some expire during the run
            with contextlib.suppress(Contention):
                setup.reap_holds()
            stop.wait(0.05)

    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        reaping = pool.submit(reaper)
        futures = [pool.submit(client, n) for n in range(CLIENTS)]
        for f in futures:
            f.result()
        stop.set()
        reaping.result()
    setup.reap_holds()

    # -- invariants ---------------------------------------------------------------------------------
    inv = setup.inventory
    assert injected["aborts"] > 0 and runner.stats.retries >= injected["aborts"]
    assert len(acknowledged) > 0 and outcomes["refused"] > 0, outcomes  # the SKU really ran short
    holds = [h for o in acknowledged for h in inv.reservations("acme", o.order_id)]
    by_row: dict[tuple[str, str], Counter[HoldState]] = {}
    for h in holds:
        by_row.setdefault((h.sku, h.warehouse), Counter())[h.state] += h.quantity
    for (sku, wh), (start, safety) in STOCK.items():
        states = by_row.get((sku, wh), Counter())
        level = next(r for r in inv.availability("acme", sku).warehouses if r.warehouse == wh)
        assert level.reserved == states[HoldState.HELD], (sku, wh, level, states)
        assert level.on_hand == start - states[HoldState.COMMITTED], (sku, wh, level, states)
        assert level.reserved <= level.on_hand - safety  # never promised safety stock or beyond
    # every acknowledged order is stored, and its holds follow its status
    for order in acknowledged:
        stored = book.get(ACME, order.order_id)
        seen = {h.state for h in inv.reservations("acme", order.order_id)}
        assert seen, order.order_id  # reject policy: an acknowledged order was fully allocated
        expected = {
            S.ALLOCATED: {HoldState.HELD},
            S.SHIPPED: {HoldState.COMMITTED},
            S.CANCELLED: {HoldState.RELEASED},
            S.ON_HOLD: {HoldState.EXPIRED},
        }[stored.status]
        if stored.status is S.CANCELLED:
            expected = {HoldState.RELEASED, HoldState.EXPIRED}  # cancelled after its hold expired
        assert seen <= expected, (stored.status, seen)
    granted = sum(line.quantity for o in acknowledged for line in o.lines)
    assert granted == sum(h.quantity for h in holds)
    print(
        f"\n{backend.kind}: {dict(outcomes)}, {len(acknowledged)} orders, {injected['aborts']} aborts"
    )


@pytest.mark.parametrize("attempts", [1])
def test_a_transaction_that_gives_up_writes_nothing(backend: Backend, attempts: int) -> None:  # noqa: F811
    def always(_: int) -> None:
        raise psycopg.errors.SerializationFailure("injected")

    runner = backend.runner(policy=RetryPolicy(max_attempts=attempts), inject=always)
    clock = ManualClock()
    setup = OrderBook(topology(backend.url), "eu-west", cast(TransactionRunner, backend.runner()), clock)
    setup.inventory.set_stock("acme", "dub-1", "SKU-HOT", 5, 0)
    book = OrderBook(topology(backend.url), "eu-west", cast(TransactionRunner, runner), clock)
    with pytest.raises(Contention):
        create(book, ACME, "r-1", ("SKU-HOT", 2))
    level = setup.inventory.availability("acme", "SKU-HOT").warehouses[0]
    assert (level.on_hand, level.reserved) == (5, 0)
    assert int(backend.scalar("SELECT count(*) FROM reservations")) == 0
