"""Per-zone slices of a multi-zone SKU: deciding on one zone's slice is deciding on the whole state,
escrow's two-sided rebalance equals the pure one, and quota in transit is what conservation misses."""

from __future__ import annotations

import dataclasses
import random

import pytest

from consistency import escrow_stock, eventual_stock, reservations
from consistency.escrow_stock import Rebalance
from consistency.pool_slices import PoolSlice, configured, conserved, credit, debit, join, slice_of
from consistency.reservations import MultiZoneState, StrategyName, new_state
from consistency.zone_stock import Verdict
from ordermesh.errors import Fenced, InvalidArgument

ZONES = ("eu", "us", "apac")


def _same(a: MultiZoneState, b: MultiZoneState) -> bool:
    return dataclasses.replace(a, as_of_us=0) == dataclasses.replace(b, as_of_us=0)


@pytest.mark.parametrize("strategy", list(StrategyName))
def test_the_slices_of_a_state_join_back_into_it(strategy: StrategyName) -> None:
    state = new_state(strategy, 100, ZONES, owner="us", quotas=[50, 30, 20], low_watermark=4)
    slices = configured(strategy, 100, ZONES, owner="us", quotas=[50, 30, 20], low_watermark=4)
    assert set(slices) == set(ZONES)
    assert _same(join(list(slices.values())), state)
    assert all(slice_of(state, z) == slices[z] for z in ZONES)


@pytest.mark.parametrize("strategy", list(StrategyName))
@pytest.mark.parametrize("seed", range(5))
def test_deciding_on_one_zone_slice_matches_the_whole_state(strategy: StrategyName, seed: int) -> None:
    rng = random.Random(seed)
    whole = new_state(strategy, 60, ZONES, low_watermark=5)
    slices = configured(strategy, 60, ZONES, low_watermark=5)
    steps = [reservations.reserve, reservations.reserve, reservations.release, reservations.commit]
    for now in range(300):
        zone, quantity, step = rng.choice(ZONES), rng.randint(1, 6), rng.choice(steps)
        at, after_local, out_local = zone, None, None
        try:
            after_local, out_local = step(join([slices[zone]]), zone, quantity, now)
            if out_local.verdict is Verdict.FORWARD:  # strong away from the owner: decided at the owner
                at = out_local.forward_to
                after_local, out_local = step(join([slices[at]]), at, quantity, now)
        except InvalidArgument:  # releasing more than held: the whole state must refuse alike
            with pytest.raises(InvalidArgument):
                step(whole, at, quantity, now)
            continue
        whole, out_whole = step(whole, at, quantity, now)
        assert (out_local.verdict, out_local.available) == (out_whole.verdict, out_whole.available)
        slices[at] = slice_of(after_local, at)
        if strategy is StrategyName.EVENTUAL and now % 17 == 0:  # gossip eu -> us
            whole = gossip_in_step(whole, slices, "eu", "us", now)
    assert _same(join(list(slices.values())), whole)
    assert reservations.oversold(whole) == reservations.oversold(join(list(slices.values())))
    if strategy is not StrategyName.EVENTUAL:
        assert reservations.oversold(whole) == 0


def gossip_in_step(
    whole: MultiZoneState, slices: dict[str, PoolSlice], sender: str, receiver: str, now: int
) -> MultiZoneState:
    """Gossip on the slices (sender's row into receiver's) and on the whole state, in step."""
    view, local = join([slices[sender]]), join([slices[receiver]])
    assert isinstance(whole, eventual_stock.EventualState)
    assert isinstance(view, eventual_stock.EventualState) and isinstance(local, eventual_stock.EventualState)
    message = eventual_stock.gossip(view, sender)
    slices[receiver] = slice_of(eventual_stock.merge(local, receiver, message, now), receiver)
    return eventual_stock.merge(whole, receiver, eventual_stock.gossip(whole, sender), now)


def test_a_two_sided_rebalance_equals_the_pure_one_and_is_fenced_on_both_sides() -> None:
    whole = escrow_stock.new(90, ZONES, [60, 20, 10])
    slices = configured("escrow", 90, ZONES, quotas=[60, 20, 10])
    move = Rebalance("eu", "apac", 25)
    donor, moved = debit(slices["eu"], move, token=3, now_us=1)
    assert moved == 25 and donor.free == 35 and donor.fence == 3
    # in transit: the donor's database has let go of the quota, the recipient's has not got it yet
    in_flight = [donor, slices["us"], slices["apac"]]
    assert not conserved(in_flight)
    assert conserved(in_flight, in_transit=moved)
    recipient = credit(slices["apac"], move, moved, token=3, now_us=2)
    assert recipient.free == 35 and recipient.fence == 3
    expected, _ = escrow_stock.rebalance(whole, move, 3, 2)
    assert _same(join([donor, slices["us"], recipient]), expected)
    assert conserved([donor, slices["us"], recipient])
    with pytest.raises(Fenced, match="older than the last applied token 3"):
        debit(donor, move, token=2, now_us=3)
    with pytest.raises(Fenced, match="older than the last applied token 3"):
        credit(recipient, move, 5, token=2, now_us=3)


def test_a_donor_moves_at_most_the_quota_it_still_has() -> None:
    slices = configured("escrow", 10, ["eu", "us"], quotas=[4, 6])
    donor, moved = debit(slices["eu"], Rebalance("eu", "us", 9), token=1, now_us=0)
    assert (moved, donor.free) == (4, 0)
    empty, nothing = debit(donor, Rebalance("eu", "us", 1), token=1, now_us=0)
    assert (nothing, empty.free) == (0, 0)


def test_join_refuses_slices_of_different_pools() -> None:
    a = configured("escrow", 10, ["eu", "us"])
    b = configured("escrow", 11, ["eu", "us"])
    with pytest.raises(ValueError, match="different configurations"):
        join([a["eu"], b["us"]])
    with pytest.raises(ValueError, match="at least one"):
        join([])
    assert a["eu"].same_configuration(dataclasses.replace(a["eu"], free=0, held=3))
    assert not a["eu"].same_configuration(b["eu"])


def test_conserved_catches_a_leak_and_an_eventual_view_ahead_of_the_truth() -> None:
    slices = configured("strong", 10, ["eu", "us"])
    leak = dataclasses.replace(slices["eu"], free=8, held=1)
    assert conserved(list(slices.values())) and not conserved([leak, slices["us"]])
    ev = configured("eventual", 10, ["eu", "us"])
    invented = dataclasses.replace(ev["eu"], taken=(0, 4))  # eu "knows" of 4 units us never took
    assert not conserved([invented, ev["us"]])
