"""allocate_order: one order against its zone's stock — lines share the ATP, tiers see their share,
the backorder policy decides what is held, and another zone's warehouses are never used."""

from __future__ import annotations

import pytest

from consistency.allocation import FCFS, Tier, tier_priority
from consistency.backorder import BACKORDER_ALL, REJECT, Outcome, ship_partial
from consistency.order_allocation import allocate_order
from consistency.stock import StockLevel, Warehouse
from ordermesh.errors import InvalidTransition
from ordermesh.status import OrderStatus

WAREHOUSES = {
    "dub": Warehouse("dub", "eu-west", "eu", cost=100),
    "fra": Warehouse("fra", "eu-central", "eu", cost=10),
    "nyc": Warehouse("nyc", "us-east", "us", cost=0),
}


def levels(**on_hand: int) -> dict[str, dict[str, StockLevel]]:
    return {"A": {wh: StockLevel("A", wh, units) for wh, units in on_hand.items()}}


def test_same_region_first_then_split_across_the_zone() -> None:
    plan = allocate_order(
        [("A", 7)], Tier.STANDARD, "eu", "eu-west", WAREHOUSES, levels(dub=5, fra=5, nyc=99), {}, FCFS, REJECT
    )
    assert plan.outcome is Outcome.ALLOCATE
    assert [(p.warehouse, p.quantity) for p in plan.picks[0]] == [("dub", 5), ("fra", 2)]


def test_another_zone_is_never_a_source() -> None:
    plan = allocate_order(
        [("A", 7)], Tier.STANDARD, "eu", "eu-west", WAREHOUSES, levels(dub=5, nyc=99), {}, FCFS, REJECT
    )
    assert plan.outcome is Outcome.REJECT and plan.decision.error is not None
    assert plan.picks == ((),)


def test_lines_of_an_order_share_the_atp_and_inbound_counts() -> None:
    stock = {
        "A": {"dub": StockLevel("A", "dub", 3)},
        "B": {"dub": StockLevel("B", "dub", 1, reserved=1)},
    }
    plan = allocate_order(
        [("A", 2), ("B", 2)],
        Tier.STANDARD,
        "eu",
        "eu-west",
        WAREHOUSES,
        stock,
        {("B", "dub"): 2},
        FCFS,
        REJECT,
    )
    assert plan.outcome is Outcome.ALLOCATE  # B: 1 - 1 held + 2 inbound due = 2


def test_tier_holdback_and_backorder_all() -> None:
    policy = tier_priority(holdback_bps=5000)
    stock = levels(dub=10)
    standard = allocate_order(
        [("A", 6)], Tier.STANDARD, "eu", "eu-west", WAREHOUSES, stock, {}, policy, BACKORDER_ALL
    )
    assert standard.outcome is Outcome.BACKORDER and standard.picks == ((),)
    assert standard.decision.target is OrderStatus.BACKORDERED
    gold = allocate_order(
        [("A", 6)], Tier.GOLD, "eu", "eu-west", WAREHOUSES, stock, {}, policy, BACKORDER_ALL
    )
    assert gold.outcome is Outcome.ALLOCATE


def test_ship_partial_keeps_only_the_picks_it_holds() -> None:
    stock = {"A": {"dub": StockLevel("A", "dub", 6)}, "B": {"dub": StockLevel("B", "dub", 0)}}
    plan = allocate_order(
        [("A", 8), ("B", 2)], Tier.STANDARD, "eu", "eu-west", WAREHOUSES, stock, {}, FCFS, ship_partial(5000)
    )
    assert plan.outcome is Outcome.PARTIAL
    assert plan.decision.hold == (6, 0) and plan.decision.backordered == (2, 2)
    assert [[(p.warehouse, p.quantity) for p in picks] for picks in plan.picks] == [[("dub", 6)], []]


def test_an_order_past_allocation_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        allocate_order(
            [("A", 1)],
            Tier.STANDARD,
            "eu",
            "eu-west",
            WAREHOUSES,
            levels(dub=5),
            {},
            FCFS,
            REJECT,
            OrderStatus.SHIPPED,
        )
