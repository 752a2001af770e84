"""Inventory core: ATP by date, reserve/commit/release/expire transitions, idempotency, validation."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistency.inventory import (
    HoldState,
    Inbound,
    Reservation,
    StockLevel,
    Warehouse,
    atp_by_warehouse,
    available_to_promise,
    commit,
    expire,
    expired,
    receive,
    release,
    reserve,
    reserve_line,
    validate_inbound,
    validate_level,
    validate_lines,
)
from ordermesh.errors import IdempotencyKeyReused, InsufficientInventory, InvalidArgument, InvalidTransition

SEEDED = settings(derandomize=True, deadline=None, max_examples=200)
HOUR = 3_600_000_000
WAREHOUSES = {
    "fra-1": Warehouse("fra-1", "eu-central", "eu"),
    "dub-1": Warehouse("dub-1", "eu-west", "eu"),
    "iad-1": Warehouse("iad-1", "us-east", "us"),
}


def fields(exc: InvalidArgument) -> set[str]:
    return {v.field for v in exc.violations}


def test_atp_counts_on_hand_plus_inbound_by_date_minus_reserved_and_safety_stock() -> None:
    levels = [
        StockLevel("SKU-1", "fra-1", on_hand=100, reserved=30, safety_stock=10),
        StockLevel("SKU-1", "dub-1", on_hand=20, reserved=0, safety_stock=5),
        StockLevel("SKU-1", "iad-1", on_hand=1000),  # another zone: never counted for eu
        StockLevel("SKU-2", "fra-1", on_hand=500),  # another sku
    ]
    inbound = [
        Inbound("SKU-1", "fra-1", 40, eta_us=2 * HOUR),
        Inbound("SKU-1", "dub-1", 7, eta_us=5 * HOUR),
        Inbound("SKU-2", "fra-1", 9, eta_us=0),
    ]
    assert available_to_promise(levels, inbound, WAREHOUSES, "SKU-1", "eu", by_us=HOUR) == 60 + 15
    assert available_to_promise(levels, inbound, WAREHOUSES, "SKU-1", "eu", by_us=2 * HOUR) == 100 + 15
    assert available_to_promise(levels, inbound, WAREHOUSES, "SKU-1", "eu", by_us=5 * HOUR) == 100 + 22
    assert available_to_promise(levels, inbound, WAREHOUSES, "SKU-1", "us", by_us=0) == 1000
    assert available_to_promise(levels, inbound, WAREHOUSES, "SKU-9", "eu", by_us=0) == 0


def test_atp_is_clamped_per_warehouse_so_one_deficit_does_not_eat_another_warehouse() -> None:
    levels = [
        StockLevel("SKU-1", "fra-1", on_hand=10, reserved=8, safety_stock=5),  # -3 -> 0
        StockLevel("SKU-1", "dub-1", on_hand=10),
    ]
    assert atp_by_warehouse(levels, [], WAREHOUSES, "SKU-1", "eu", 0) == {"fra-1": 0, "dub-1": 10}
    assert available_to_promise(levels, [], WAREHOUSES, "SKU-1", "eu", 0) == 10


def test_reserve_holds_units_and_a_retry_of_the_same_line_returns_the_same_hold() -> None:
    level = StockLevel("SKU-1", "fra-1", on_hand=10, safety_stock=2)
    after, hold = reserve(level, [], "ord-1", 0, 5, now_us=100, hold_us=HOUR)
    assert (after.on_hand, after.reserved) == (10, 5)
    assert hold.state is HoldState.HELD and hold.expires_us == 100 + HOUR
    again, same = reserve(after, [hold], "ord-1", 0, 5, now_us=999, hold_us=HOUR)
    assert again == after and same == hold  # never double-counted
    with pytest.raises(IdempotencyKeyReused):
        reserve(after, [hold], "ord-1", 0, 6, now_us=999, hold_us=HOUR)


def test_reserve_refuses_more_than_atp_and_respects_safety_stock() -> None:
    level = StockLevel("SKU-1", "fra-1", on_hand=10, reserved=3, safety_stock=2)
    with pytest.raises(InsufficientInventory) as err:
        reserve(level, [], "ord-1", 0, 6, now_us=0, hold_us=HOUR)
    assert err.value.metadata["available"] == "5"
    after, _ = reserve(level, [], "ord-1", 0, 5, now_us=0, hold_us=HOUR)
    assert after.reserved == 8


def test_a_split_line_is_reserved_all_or_nothing() -> None:
    levels = {
        "fra-1": StockLevel("SKU-1", "fra-1", on_hand=4),
        "dub-1": StockLevel("SKU-1", "dub-1", on_hand=2),
    }
    changed, holds = reserve_line(levels, [], "ord-1", 1, [("fra-1", 4), ("dub-1", 2)], 0, HOUR)
    assert {w: lv.reserved for w, lv in changed.items()} == {"fra-1": 4, "dub-1": 2}
    assert sorted(h.reservation_id for h in holds) == ["ord-1/1/dub-1", "ord-1/1/fra-1"]
    with pytest.raises(InsufficientInventory):
        reserve_line(levels, [], "ord-2", 0, [("fra-1", 4), ("dub-1", 3)], 0, HOUR)
    assert reserve_line(levels, holds, "ord-1", 1, [("fra-1", 6)], 5, HOUR) == ({}, holds)


def test_commit_ships_release_frees_and_both_are_idempotent() -> None:
    level, hold = reserve(StockLevel("SKU-1", "fra-1", on_hand=10), [], "o", 0, 4, 0, HOUR)
    shipped, done = commit(level, hold)
    assert (shipped.on_hand, shipped.reserved, done.state) == (6, 0, HoldState.COMMITTED)
    assert commit(shipped, done) == (shipped, done)
    with pytest.raises(InvalidTransition):
        release(shipped, done)
    freed, gone = release(level, hold)
    assert (freed.on_hand, freed.reserved, gone.state) == (10, 0, HoldState.RELEASED)
    assert release(freed, gone) == (freed, gone)
    with pytest.raises(InvalidTransition):
        commit(freed, gone)


def test_commit_of_units_not_yet_received_is_refused() -> None:
    level = StockLevel("SKU-1", "fra-1", on_hand=0)
    level, hold = reserve(level, [], "o", 0, 3, 0, HOUR, inbound_units=5)
    with pytest.raises(InsufficientInventory):
        commit(level, hold)
    level = receive(level, Inbound("SKU-1", "fra-1", 5, eta_us=10))
    assert commit(level, hold)[0].on_hand == 2


def test_reaper_expires_exactly_the_due_holds() -> None:
    def hold(i: int, expires: int, state: HoldState = HoldState.HELD) -> Reservation:
        return Reservation(f"r{i}", f"o{i}", 0, "SKU-1", "fra-1", 1, state, expires)

    holds = [
        hold(1, 100),
        hold(2, 200),
        hold(3, 201),
        hold(4, 50, HoldState.COMMITTED),
        hold(5, 50, HoldState.RELEASED),
    ]
    assert [h.reservation_id for h in expired(holds, 200)] == ["r1", "r2"]
    level = StockLevel("SKU-1", "fra-1", on_hand=10, reserved=3)
    level, gone = expire(level, holds[0], 200)
    assert (level.reserved, gone.state) == (2, HoldState.EXPIRED)
    assert expire(level, gone, 300) == (level, gone)  # re-run reaper: no double release
    assert expire(level, holds[2], 200) == (level, holds[2])  # not due yet
    assert expire(level, holds[3], 999) == (level, holds[3])  # shipped: reaper lost the race


@pytest.mark.parametrize("quantity", [0, -1, -(10**12), 1_000_001, 10**18, True])
def test_bad_quantities_are_invalid_argument_with_a_field_path(quantity: int) -> None:
    level = StockLevel("SKU-1", "fra-1", on_hand=10**6)
    with pytest.raises(InvalidArgument) as err:
        reserve(level, [], "o", 0, quantity, 0, HOUR)
    assert fields(err.value) == {"picks[0].quantity"}
    assert err.value.code == "INVALID_ARGUMENT"


def test_validate_lines_names_every_bad_field_including_unknown_skus() -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_lines([("SKU-1", 2), ("NOPE", 1), ("bad sku", -3), ("SKU-2", 10**9)], {"SKU-1", "SKU-2"})
    assert fields(err.value) == {"lines[1].sku", "lines[2].sku", "lines[2].quantity", "lines[3].quantity"}
    validate_lines([("SKU-1", 1), ("SKU-2", 1_000_000)], {"SKU-1", "SKU-2"})


def test_validate_level_and_inbound_refuse_negative_and_huge_values() -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_level(StockLevel("SKU-1", "fra-1", on_hand=-1, reserved=-2, safety_stock=10**10))
    assert fields(err.value) == {"stock_level.on_hand", "stock_level.reserved", "stock_level.safety_stock"}
    with pytest.raises(InvalidArgument) as err:
        validate_inbound(Inbound("SKU-1", "fra-1", 0, eta_us=-5))
    assert fields(err.value) == {"inbound.quantity", "inbound.eta_us"}


@dataclass
class Ledger:
    """The test's stand-in for storage: rows by key, plus what the invariants need to know."""

    levels: dict[str, StockLevel]
    holds: dict[tuple[str, int], Reservation] = field(default_factory=dict)
    shipped: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)


ops = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "retry", "commit", "release", "tick", "receive"]),
        st.integers(0, 1),
        st.integers(1, 8),
    ),
    max_size=60,
)


@SEEDED
@given(ops)
def test_random_interleavings_conserve_stock_and_never_over_promise(
    steps: list[tuple[str, int, int]],
) -> None:
    start = {"fra-1": 20, "dub-1": 7}
    book = Ledger({w: StockLevel("SKU-1", w, on_hand=n, safety_stock=2) for w, n in start.items()})
    now, n = 0, 0
    for kind, wi, q in steps:
        wh = ["fra-1", "dub-1"][wi]
        before = dict(book.levels)
        held = [h for h in book.holds.values() if h.state is HoldState.HELD and h.warehouse == wh]
        if kind == "reserve":
            n += 1
            try:
                book.levels[wh], hold = reserve(book.levels[wh], [], f"o{n}", 0, q, now, HOUR)
                book.holds[(hold.order_id, 0)] = hold
            except InsufficientInventory:
                assert q > book.levels[wh].on_hand - book.levels[wh].reserved - 2
        elif kind == "retry" and book.holds:
            old = list(book.holds.values())[q % len(book.holds)]
            level = book.levels[old.warehouse]
            assert reserve(level, [old], old.order_id, 0, old.quantity, now, HOUR) == (level, old)
        elif kind in ("commit", "release") and held:
            h = held[q % len(held)]
            step = commit if kind == "commit" else release
            book.levels[wh], book.holds[(h.order_id, 0)] = step(book.levels[wh], h)
            if kind == "commit":
                book.shipped[wh] = book.shipped.get(wh, 0) + h.quantity
        elif kind == "tick":
            now += q * HOUR // 4
            for h in expired(book.holds.values(), now):
                lv = book.levels[h.warehouse]
                book.levels[h.warehouse], book.holds[(h.order_id, 0)] = expire(lv, h, now)
            assert not expired(book.holds.values(), now)
        elif kind == "receive":
            book.levels[wh] = receive(book.levels[wh], Inbound("SKU-1", wh, q, now))
            book.received[wh] = book.received.get(wh, 0) + q
        for w, level in book.levels.items():
            holding = sum(
                h.quantity for h in book.holds.values() if h.state is HoldState.HELD and h.warehouse == w
            )
            assert level.reserved == holding
            assert level.on_hand == start[w] + book.received.get(w, 0) - book.shipped.get(w, 0)
            assert level.reserved + level.safety_stock <= level.on_hand  # nothing promised twice
            if kind not in ("commit", "receive"):
                assert level.on_hand == before[w].on_hand  # holds only move units free <-> reserved
