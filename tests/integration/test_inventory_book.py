"""Inventory in the order lifecycle, on SQLite and real PostgreSQL: stock, inbound, ATP, reservations
taken by CreateOrder in its own transaction, the tenant backorder policies, shipment, cancel, reaper."""

from __future__ import annotations

import pickle
from typing import Any, cast

import pytest

from consistency.allocation import Tier
from consistency.inventory import HoldState
from ordermesh.clock import ManualClock
from ordermesh.errors import (
    IdempotencyKeyReused,
    InsufficientInventory,
    InvalidArgument,
    InvalidTransition,
    NotFound,
)
from ordermesh.money import Money
from ordermesh.order import Customer, Order, OrderDraft, OrderLine
from ordermesh.status import OrderStatus
from ordermesh.topology import Topology, parse_topology
from region_service.orders import OrderBook, Principal, StatusChange
from region_service.ports import TransactionRunner
from tests.integration.storage_backends import Backend, backend  # noqa: F401  (fixture)

S = OrderStatus
ACME = Principal("acme", "key-1")  # backorder: reject, FCFS
GLOBEX = Principal("globex", "key-2")  # backorder_all, tier priority with a 20% holdback
INITECH = Principal("initech", "key-3")  # ship_partial above 50%
HOOLI = Principal("hooli", "key-4")  # no inventory section: does not track stock
HOLD_S = 600


def topology(url: str) -> Topology:
    return parse_topology(
        {
            "zones": {
                "eu": {
                    "database": url,
                    "regions": {
                        "eu-west": {
                            "endpoint": "127.0.0.1:1",
                            "warehouses": {"dub-1": {"cost": 100}, "dub-2": {"cost": 300}},
                        },
                        "eu-central": {"endpoint": "127.0.0.1:2", "warehouses": {"fra-1": {"cost": 50}}},
                    },
                },
                "us": {
                    "database": "sqlite://",
                    "regions": {"us-east": {"endpoint": "127.0.0.1:3", "warehouses": {"nyc-1": {}}}},
                },
            },
            "residency": {"countries": {"DE": "eu", "US": "us"}},
            "tenants": {
                "acme": {"inventory": {"hold_seconds": HOLD_S}},
                "globex": {
                    "inventory": {
                        "backorder": "backorder_all",
                        "allocation": "tier_priority",
                        "holdback_bps": 2000,
                        "protected_tier": "gold",
                    }
                },
                "initech": {"inventory": {"backorder": "ship_partial", "partial_threshold_bps": 5000}},
                "hooli": {},
            },
        }
    )


def render(order: Order) -> bytes:
    return pickle.dumps(order)


def book_for(b: Backend, clock: ManualClock | None = None, **kw: Any) -> OrderBook:
    runner = cast(TransactionRunner, b.runner(**kw))
    return OrderBook(topology(b.url), "eu-west", runner, clock or ManualClock())


def draft(*lines: tuple[str, int], tier: int = 0) -> OrderDraft:
    return OrderDraft(
        Customer("c-1", "DE", tier), tuple(OrderLine(sku, q, Money(100, "EUR")) for sku, q in lines)
    )


def create(book: OrderBook, who: Principal, request_id: str, *lines: tuple[str, int], tier: int = 0) -> Order:
    d = draft(*lines, tier=tier)
    order: Order = pickle.loads(book.create(who, request_id, f"fp-{request_id}-{lines}", d, render).payload)
    return order


def change(book: OrderBook, who: Principal, order: Order, target: OrderStatus | None, rid: str) -> Order:
    reply = book.change_status(who, rid, f"fp-{rid}", StatusChange(order.order_id, target), render)
    result: Order = pickle.loads(reply.payload)
    return result


def stock(b: Backend, tenant: str, sku: str) -> dict[str, tuple[int, int]]:
    with b.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT warehouse, on_hand, reserved FROM stock_levels WHERE tenant = %s AND sku = %s"
            if b.kind == "postgresql"
            else "SELECT warehouse, on_hand, reserved FROM stock_levels WHERE tenant = ? AND sku = ?",
            (tenant, sku),
        ).all()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def count(b: Backend, table: str) -> int:
    return int(b.scalar(f"SELECT count(*) FROM {table}"))


def test_create_order_reserves_in_its_transaction_and_ships_or_cancels(backend: Backend) -> None:  # noqa: F811
    book = book_for(backend)
    inv = book.inventory
    inv.set_stock("acme", "dub-1", "SKU-A", 10, 0)
    inv.set_stock("acme", "fra-1", "SKU-A", 4, 1)
    # fra-1 is cheapest (cost 50) but another region; dub-1 same region (distance 0) wins the tie-break
    order = create(book, ACME, "r-1", ("SKU-A", 12))
    assert order.status is S.ALLOCATED and order.version == 3
    holds = inv.reservations("acme", order.order_id)
    assert {(h.warehouse, h.quantity, h.state) for h in holds} == {
        ("dub-1", 10, HoldState.HELD),
        ("fra-1", 2, HoldState.HELD),
    }
    assert stock(backend, "acme", "SKU-A") == {"dub-1": (10, 10), "fra-1": (4, 2)}
    assert inv.availability("acme", "SKU-A").available_to_promise == 1  # fra-1: 4 - 2 held - 1 safety
    # a retry with the same request_id replays the stored (final) answer and reserves nothing more
    assert create(book, ACME, "r-1", ("SKU-A", 12)) == order
    assert stock(backend, "acme", "SKU-A") == {"dub-1": (10, 10), "fra-1": (4, 2)}
    # audit: created, then pending -> confirmed -> allocated
    book.seal_pending = None
    shipped = change(book, ACME, order, S.SHIPPED, "ship-1")
    assert shipped.status is S.SHIPPED
    assert stock(backend, "acme", "SKU-A") == {"dub-1": (0, 0), "fra-1": (2, 0)}
    assert {h.state for h in inv.reservations("acme", order.order_id)} == {HoldState.COMMITTED}

    other = create(book, ACME, "r-2", ("SKU-A", 1))
    assert stock(backend, "acme", "SKU-A")["fra-1"] == (2, 1)
    change(book, ACME, other, None, "cancel-2")
    assert stock(backend, "acme", "SKU-A")["fra-1"] == (2, 0)
    assert {h.state for h in inv.reservations("acme", other.order_id)} == {HoldState.RELEASED}


def test_reject_policy_refuses_a_short_order_and_writes_nothing(backend: Backend) -> None:  # noqa: F811
    book = book_for(backend)
    book.inventory.set_stock("acme", "dub-1", "SKU-A", 3, 0)
    book.inventory.set_stock("acme", "dub-1", "SKU-Z", 1, 0)
    before = {t: count(backend, t) for t in ("orders", "reservations", "idempotency_keys", "order_events")}
    with pytest.raises(InsufficientInventory) as short:
        create(book, ACME, "r-1", ("SKU-A", 2), ("SKU-Z", 2))  # the first line fits, the second not
    assert short.value.metadata["sku"] == "SKU-Z"
    assert {t: count(backend, t) for t in before} == before
    assert stock(backend, "acme", "SKU-A") == {"dub-1": (3, 0)}
    # the key was not kept: once stock arrives, the same request_id is decided afresh
    book.inventory.set_stock("acme", "dub-1", "SKU-Z", 4, 0)
    assert create(book, ACME, "r-1", ("SKU-A", 2), ("SKU-Z", 2)).status is S.ALLOCATED


def test_unknown_sku_and_bad_stock_input_are_invalid_with_no_write(backend: Backend) -> None:  # noqa: F811
    book = book_for(backend)
    inv = book.inventory
    inv.set_stock("acme", "dub-1", "SKU-A", 3, 0)
    with pytest.raises(InvalidArgument) as unknown:
        create(book, ACME, "r-1", ("SKU-A", 1), ("NOPE", 1))
    assert [v.field for v in unknown.value.violations] == ["lines[1].sku"]
    cases: list[tuple[Any, str]] = [
        (lambda: inv.set_stock("acme", "dub-1", "SKU-A", -1, 0), "on_hand"),
        (lambda: inv.set_stock("acme", "dub-1", "SKU-A", 10**12, 0), "on_hand"),
        (lambda: inv.set_stock("acme", "dub-1", "SKU-A", 5, -2), "safety_stock"),
        (lambda: inv.set_stock("acme", "nyc-1", "SKU-A", 5, 0), "warehouse"),  # another zone's
        (lambda: inv.set_stock("acme", "dub-1", "bad sku!", 5, 0), "sku"),
        (lambda: inv.add_inbound("acme", "in-1", "dub-1", "SKU-A", 0, 1), "quantity"),
        (lambda: inv.add_inbound("acme", "in-1", "dub-1", "SKU-A", -5, 1), "quantity"),
        (lambda: inv.add_inbound("acme", "in-1", "dub-1", "SKU-A", 5, -1), "eta_us"),
        (lambda: inv.availability("acme", "NOPE"), "sku"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidArgument) as bad:
            call()
        assert any(v.field.endswith(field) for v in bad.value.violations), (field, bad.value.violations)
    assert count(backend, "orders") == 0 and count(backend, "inbound_stock") == 0
    assert stock(backend, "acme", "SKU-A") == {"dub-1": (3, 0)}
    # on_hand below what is held is refused (a recount must not make held units disappear)
    create(book, ACME, "r-2", ("SKU-A", 2))
    with pytest.raises(InvalidArgument, match="held"):
        inv.set_stock("acme", "dub-1", "SKU-A", 1, 0)
    # tenants never see each other's stock
    with pytest.raises(InvalidArgument):
        inv.availability("globex", "SKU-A")


def test_inbound_counts_from_its_eta_and_is_idempotent(backend: Backend) -> None:  # noqa: F811
    clock = ManualClock()
    book = book_for(backend, clock)
    inv = book.inventory
    now = clock.now_us()
    inv.set_stock("acme", "dub-1", "SKU-A", 2, 0)
    record = inv.add_inbound("acme", "po-7", "dub-1", "SKU-A", 5, now + 3_600_000_000)
    assert inv.add_inbound("acme", "po-7", "dub-1", "SKU-A", 5, now + 3_600_000_000) == record
    with pytest.raises(IdempotencyKeyReused):
        inv.add_inbound("acme", "po-7", "dub-1", "SKU-A", 6, now + 3_600_000_000)
    assert inv.availability("acme", "SKU-A").available_to_promise == 2
    later = inv.availability("acme", "SKU-A", now + 3_600_000_000)
    assert later.available_to_promise == 7 and later.warehouses[0].inbound == 5
    with pytest.raises(InsufficientInventory):
        create(book, ACME, "r-1", ("SKU-A", 3))
    clock.advance(3600)  # the ETA passed: promisable before it is physically received
    assert create(book, ACME, "r-1", ("SKU-A", 3)).status is S.ALLOCATED
    level = inv.receive_inbound("acme", "po-7")
    assert (level.on_hand, level.reserved) == (7, 3)
    assert inv.receive_inbound("acme", "po-7") == level  # idempotent
    assert inv.availability("acme", "SKU-A").available_to_promise == 4
    with pytest.raises(NotFound):
        inv.receive_inbound("globex", "po-7")


def test_backorder_all_then_stock_arrives_and_tier_priority_serves_gold_first(backend: Backend) -> None:  # noqa: F811
    book = book_for(backend)
    inv = book.inventory
    inv.set_stock("globex", "dub-1", "SKU-B", 10, 0)
    # 20% of 10 is held back for gold and above: a standard customer sees 8
    assert inv.availability("globex", "SKU-B", tier=Tier.STANDARD).available_to_promise == 8
    assert inv.availability("globex", "SKU-B", tier=Tier.GOLD).available_to_promise == 10
    first = create(book, GLOBEX, "g-1", ("SKU-B", 8))
    assert first.status is S.ALLOCATED
    waiting = create(book, GLOBEX, "g-2", ("SKU-B", 2))  # standard: the last 2 are held back
    assert waiting.status is S.BACKORDERED
    assert inv.reservations("globex", waiting.order_id) == []
    gold = create(book, GLOBEX, "g-3", ("SKU-B", 2), tier=Tier.GOLD)
    assert gold.status is S.ALLOCATED
    late_gold = create(book, GLOBEX, "g-4", ("SKU-B", 3), tier=Tier.GOLD)
    assert late_gold.status is S.BACKORDERED
    # 4 more units arrive: gold (3) is served before the older standard order (2 would need 1 more)
    inv.set_stock("globex", "dub-1", "SKU-B", 14, 0)
    assert book.get(GLOBEX, late_gold.order_id).status is S.ALLOCATED
    assert book.get(GLOBEX, waiting.order_id).status is S.BACKORDERED
    inv.set_stock("globex", "dub-1", "SKU-B", 20, 0)
    assert book.get(GLOBEX, waiting.order_id).status is S.ALLOCATED
    assert stock(backend, "globex", "SKU-B") == {"dub-1": (20, 15)}


def test_ship_partial_holds_what_is_there_above_the_threshold(backend: Backend) -> None:  # noqa: F811
    book = book_for(backend)
    book.inventory.set_stock("initech", "dub-1", "SKU-C", 6, 0)
    partial = create(book, INITECH, "i-1", ("SKU-C", 10))  # 60% >= 50%: hold 6, backorder 4
    assert partial.status is S.ALLOCATED
    assert sum(h.quantity for h in book.inventory.reservations("initech", partial.order_id)) == 6
    too_little = create(book, INITECH, "i-2", ("SKU-C", 10))  # nothing left: backordered whole
    assert too_little.status is S.BACKORDERED
    shipped = change(book, INITECH, partial, S.PARTIALLY_SHIPPED, "ship-i-1")
    assert shipped.status is S.PARTIALLY_SHIPPED
    assert stock(backend, "initech", "SKU-C") == {"dub-1": (0, 0)}


def test_reaper_expires_holds_after_their_ttl(backend: Backend) -> None:  # noqa: F811
    clock = ManualClock()
    book = book_for(backend, clock)
    inv = book.inventory
    inv.set_stock("acme", "dub-1", "SKU-A", 5, 0)
    order = create(book, ACME, "r-1", ("SKU-A", 5))
    clock.advance(HOLD_S - 1)
    assert book.reap_holds() == []
    clock.advance(1)  # a hold expires at its expiry time exactly
    expired = book.reap_holds()
    assert [(h.order_id, h.state) for h in expired] == [(order.order_id, HoldState.EXPIRED)]
    assert stock(backend, "acme", "SKU-A") == {"dub-1": (5, 0)}
    assert book.reap_holds() == []  # re-running finds nothing
    on_hold = book.get(ACME, order.order_id)
    assert on_hold.status is S.ON_HOLD and on_hold.version == order.version + 1
    # it cannot ship on an expired hold; sent back to wait for stock, it is allocated again
    with pytest.raises(InvalidTransition):
        change(book, ACME, on_hold, S.SHIPPED, "ship-1")
    other = create(book, ACME, "r-2", ("SKU-A", 3))
    waiting = change(book, ACME, on_hold, S.BACKORDERED, "wait-1")
    assert waiting.status is S.BACKORDERED
    inv.set_stock("acme", "dub-1", "SKU-A", 8, 0)  # stock arrives: re-allocated (new holds)
    again = book.get(ACME, order.order_id)
    assert again.status is S.ALLOCATED
    assert [(h.quantity, h.state) for h in inv.reservations("acme", order.order_id)] == [(5, HoldState.HELD)]
    assert stock(backend, "acme", "SKU-A") == {"dub-1": (8, 8)}
    assert other.status is S.ALLOCATED


def test_a_tenant_without_inventory_is_untouched(backend: Backend) -> None:  # noqa: F811
    book = book_for(backend)
    order = create(book, HOOLI, "h-1", ("ANY-SKU", 3))
    assert order.status is S.PENDING and count(backend, "reservations") == 0


def test_allocating_by_hand_takes_the_stock_or_is_refused(backend: Backend) -> None:  # noqa: F811
    clock = ManualClock()
    book = book_for(backend, clock)
    inv = book.inventory
    inv.set_stock("acme", "dub-1", "SKU-A", 4, 0)
    order = create(book, ACME, "r-1", ("SKU-A", 4))
    clock.advance(HOLD_S)
    book.reap_holds()
    create(book, ACME, "r-2", ("SKU-A", 3))  # someone else took the freed stock
    on_hold = book.get(ACME, order.order_id)
    with pytest.raises(InsufficientInventory):
        change(book, ACME, on_hold, S.ALLOCATED, "alloc-1")
    assert book.get(ACME, order.order_id) == on_hold and stock(backend, "acme", "SKU-A") == {"dub-1": (4, 3)}
    inv.set_stock("acme", "dub-1", "SKU-A", 8, 0)  # an on-hold order is not re-allocated by itself
    assert book.get(ACME, order.order_id).status is S.ON_HOLD
    allocated = change(book, ACME, on_hold, S.ALLOCATED, "alloc-2")
    assert allocated.status is S.ALLOCATED
    assert [(h.quantity, h.state) for h in inv.reservations("acme", order.order_id)] == [(4, HoldState.HELD)]
    assert stock(backend, "acme", "SKU-A") == {"dub-1": (8, 7)}
    assert change(book, ACME, allocated, S.SHIPPED, "ship-1").status is S.SHIPPED
    assert stock(backend, "acme", "SKU-A") == {"dub-1": (4, 3)}


def test_fcfs_backorders_are_served_in_arrival_order_whatever_the_tier(backend: Backend) -> None:  # noqa: F811
    clock = ManualClock()
    book = book_for(backend, clock)
    book.inventory.set_stock("initech", "dub-1", "SKU-F", 0, 0)
    first = create(book, INITECH, "f-1", ("SKU-F", 2))
    clock.advance(1)  # arrival order is creation time (ties, within a microsecond, go by order id)
    later_gold = create(book, INITECH, "f-2", ("SKU-F", 2), tier=Tier.PLATINUM)
    assert first.status is later_gold.status is S.BACKORDERED
    book.inventory.set_stock("initech", "dub-1", "SKU-F", 2, 0)
    assert book.get(INITECH, first.order_id).status is S.ALLOCATED
    assert book.get(INITECH, later_gold.order_id).status is S.BACKORDERED
