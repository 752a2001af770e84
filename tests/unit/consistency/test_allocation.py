"""Allocation: FCFS vs tier priority with a holdback, and warehouse choice inside the order's zone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistency.allocation import (
    FCFS,
    AllocationMode,
    AllocationPolicy,
    Demand,
    Tier,
    Weights,
    allocate_batch,
    choose_warehouses,
    holdback_units,
    tier_priority,
    visible_atp,
)
from consistency.inventory import Warehouse
from ordermesh.errors import InvalidArgument

SEEDED = settings(derandomize=True, deadline=None, max_examples=200)
DISTANCE = {("eu-west", "eu-central"): 20, ("eu-central", "eu-south"): 15, ("eu-west", "eu-south"): 35}
EU = [
    Warehouse("dub-1", "eu-west", "eu", cost=5),
    Warehouse("fra-1", "eu-central", "eu", cost=1),
    Warehouse("mil-1", "eu-south", "eu", capacity=3, cost=0),
]
US = [Warehouse("iad-1", "us-east", "us", cost=0), Warehouse("pdx-1", "us-west", "us")]


def test_fcfs_serves_in_arrival_order_and_everyone_sees_all_atp() -> None:
    demands = [Demand("b", 0, Tier.PLATINUM, 6, arrival=2), Demand("a", 0, Tier.STANDARD, 6, arrival=1)]
    assert allocate_batch(FCFS, demands, atp=10, base=10) == {("a", 0): 6, ("b", 0): 4}
    assert visible_atp(FCFS, Tier.STANDARD, 10, 10) == 10


def test_tier_priority_holds_back_a_share_that_lower_tiers_cannot_drain() -> None:
    policy = tier_priority(holdback_bps=2_000, protected_tier=Tier.GOLD)
    assert holdback_units(policy, 100) == 20 and holdback_units(policy, 11) == 3  # ceil
    lower = [Demand(f"s{i}", 0, Tier.SILVER, 10, arrival=i) for i in range(20)]
    granted = allocate_batch(policy, lower, atp=100, base=100)
    assert sum(granted.values()) == 80  # the base, not the shrinking ATP, sets the holdback
    assert visible_atp(policy, Tier.SILVER, atp=20, base=100) == 0
    assert visible_atp(policy, Tier.GOLD, atp=20, base=100) == 20
    mixed = [*lower[:9], Demand("g", 0, Tier.GOLD, 30, arrival=99)]
    granted = allocate_batch(policy, mixed, atp=100, base=100)
    assert granted[("g", 0)] == 30  # served first despite arriving last
    assert sum(granted.values()) == 80  # nested: 20 units stay protected for gold orders to come


@SEEDED
@given(
    st.lists(st.tuples(st.sampled_from(list(Tier)), st.integers(1, 50)), max_size=30),
    st.integers(0, 300),
    st.integers(0, 10_000),
)
def test_lower_tiers_never_take_the_holdback(demands: list[tuple[Tier, int]], stock: int, bps: int) -> None:
    policy = tier_priority(holdback_bps=bps)
    batch = [Demand(f"o{i}", 0, tier, q, arrival=i) for i, (tier, q) in enumerate(demands)]
    granted = allocate_batch(policy, batch, atp=stock, base=stock)
    lower = sum(granted[(d.order_id, 0)] for d in batch if d.tier < Tier.GOLD)
    assert lower <= max(0, stock - holdback_units(policy, stock))
    assert sum(granted.values()) <= stock
    assert all(0 <= granted[(d.order_id, 0)] <= d.quantity for d in batch)


def test_fcfs_with_a_holdback_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        AllocationPolicy(AllocationMode.FCFS, holdback_bps=100)


def test_warehouse_choice_prefers_near_and_cheap_and_respects_capacity() -> None:
    atp = {"dub-1": 50, "fra-1": 50, "mil-1": 50, "iad-1": 1000}
    plan = choose_warehouses("SKU-1", 5, "eu", "eu-south", EU, atp, DISTANCE)
    # mil-1 is local and free to ship from, but may pick only 3; fra-1 (15 + 1) beats dub-1 (35 + 5).
    assert [(p.warehouse, p.quantity) for p in plan.picks] == [("mil-1", 3), ("fra-1", 2)]
    whole = choose_warehouses("SKU-1", 5, "eu", "eu-south", EU, atp, DISTANCE, allow_split=False)
    assert [(p.warehouse, p.quantity) for p in whole.picks] == [("fra-1", 5)]
    costly = choose_warehouses("SKU-1", 5, "eu", "eu-west", EU, atp, DISTANCE, Weights(distance=0, cost=1))
    assert costly.picks[0].warehouse == "mil-1"


def test_a_short_line_yields_a_partial_plan_and_limit_caps_it() -> None:
    atp = {"dub-1": 2, "fra-1": 1}
    plan = choose_warehouses("SKU-1", 5, "eu", "eu-west", EU, atp, DISTANCE)
    assert (plan.allocated, plan.short) == (3, 2)
    single = choose_warehouses("SKU-1", 5, "eu", "eu-west", EU, atp, DISTANCE, allow_split=False)
    assert [(p.warehouse, p.quantity) for p in single.picks] == [("dub-1", 2)]
    capped = choose_warehouses("SKU-1", 5, "eu", "eu-west", EU, atp, DISTANCE, limit=1)
    assert capped.allocated == 1
    with pytest.raises(InvalidArgument):
        choose_warehouses("SKU-1", 0, "eu", "eu-west", EU, atp, DISTANCE)


@SEEDED
@given(
    st.sampled_from(["eu", "us", "apac"]),
    st.dictionaries(st.sampled_from(["dub-1", "fra-1", "mil-1", "iad-1", "pdx-1"]), st.integers(-5, 40)),
    st.integers(1, 200),
    st.booleans(),
    st.sampled_from(["eu-west", "eu-south", "us-east", "ap-south"]),
)
def test_warehouse_choice_never_leaves_the_orders_zone(
    zone: str, atp: dict[str, int], quantity: int, split: bool, ship_to: str
) -> None:
    everywhere = EU + US
    plan = choose_warehouses("SKU-1", quantity, zone, ship_to, everywhere, atp, DISTANCE, allow_split=split)
    by_name = {w.name: w for w in everywhere}
    assert all(by_name[p.warehouse].zone == zone for p in plan.picks)
    assert all(0 < p.quantity <= max(0, atp.get(p.warehouse, 0)) for p in plan.picks)
    assert plan.allocated <= quantity
    in_zone = sum(
        min(max(0, atp.get(w.name, 0)), w.capacity if w.capacity is not None else 10**9)
        for w in everywhere
        if w.zone == zone
    )
    if split:
        assert plan.allocated == min(quantity, in_zone)
