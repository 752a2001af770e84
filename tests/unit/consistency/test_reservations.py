"""Multi-zone stock strategies: conservation, zero oversell for strong and escrow, fencing, and
eventual's measured oversell, under random seeded interleavings from several zones."""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistency import escrow_stock, eventual_stock
from consistency.escrow_stock import EscrowState, Rebalance
from consistency.eventual_stock import EventualState, Gossip
from consistency.reservations import (
    MultiZoneState,
    StrategyName,
    commit,
    conserved,
    new_state,
    oversold,
    release,
    reserve,
    strategy_of,
    summary,
)
from consistency.strong_stock import StrongState
from consistency.zone_stock import RebalanceRequest, Verdict
from ordermesh.errors import Fenced, InvalidArgument

SEEDED = settings(derandomize=True, deadline=None, max_examples=150)
ZONES = ("eu", "us", "apac")
KINDS = ["reserve", "reserve", "reserve", "release", "commit", "deliver", "background", "stale"]
steps = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 2), st.integers(1, 12)), max_size=80)


class Harness:
    """Drives one strategy like the simulator would: forwarded calls and gossip wait in a queue."""

    def __init__(self, state: MultiZoneState) -> None:
        self.state = state
        self.held = dict.fromkeys(ZONES, 0)  # units each zone's orders hold, as the zones' callers know
        self.committed = 0
        self.queue: deque[tuple[str, str, int]] = deque()  # strong: (kind, origin zone, units)
        self.gossip: deque[tuple[str, Gossip]] = deque()  # eventual: (to zone, message)
        self.token = 0
        self.now = 0

    def step(self, kind: str, zi: int, q: int) -> None:
        zone, self.now = ZONES[zi], self.now + 1
        before = summary(self.state)
        if kind == "reserve":
            self._reserve(zone, zone, q)
        elif kind in ("release", "commit") and self.held[zone]:
            self._settle(kind, zone, min(q, self.held[zone]))
        elif kind == "deliver":
            self._deliver()
        elif kind == "background":
            self._background(zone, q)
        elif kind == "stale":
            self._stale(zone)
        after = summary(self.state)
        assert conserved(self.state)
        shipped = after.committed - before.committed
        assert after.free + after.held == before.free + before.held - shipped  # only commits remove units
        if not isinstance(self.state, EventualState):
            assert oversold(self.state) == 0
            assert after.free >= 0

    def _reserve(self, origin: str, at: str, q: int) -> None:
        self.state, out = reserve(self.state, at, q, self.now)
        if out.verdict is Verdict.FORWARD:
            assert isinstance(self.state, StrongState) and out.forward_to == self.state.owner
            self.queue.append(("reserve", origin, q))
        elif out.granted:
            self.held[origin] += q
        elif isinstance(self.state, EscrowState) and out.rebalance:
            move = escrow_stock.plan_rebalance(self.state, out.rebalance)
            if move:
                self.token += 1
                self.state, _ = escrow_stock.rebalance(self.state, move, self.token, self.now)

    def _settle(self, kind: str, zone: str, q: int) -> None:
        self.held[zone] -= q  # the caller's units are spoken for as soon as the call is sent
        if kind == "commit":
            self.committed += q
        op = commit if kind == "commit" else release
        self.state, out = op(self.state, zone, q, self.now)
        if out.verdict is Verdict.FORWARD:
            self.queue.append((kind, zone, q))

    def _deliver(self) -> None:
        if self.queue and isinstance(self.state, StrongState):
            kind, origin, q = self.queue.popleft()
            owner = self.state.owner
            if kind == "reserve":
                self._reserve(origin, owner, q)
            else:
                op = commit if kind == "commit" else release
                self.state, out = op(self.state, owner, q, self.now)
                assert out.granted
        if self.gossip and isinstance(self.state, EventualState):
            to, message = self.gossip.popleft()
            self.state = eventual_stock.merge(self.state, to, message, self.now)

    def _background(self, zone: str, q: int) -> None:
        if isinstance(self.state, EscrowState):
            move = escrow_stock.plan_rebalance(self.state, RebalanceRequest(zone, q))
            if move:
                self.token += 1
                self.state, moved = escrow_stock.rebalance(self.state, move, self.token, self.now)
                assert 0 <= moved <= move.quantity
        elif isinstance(self.state, EventualState):
            other = ZONES[(ZONES.index(zone) + q) % 3]
            self.gossip.append((other, eventual_stock.gossip(self.state, zone)))

    def _stale(self, zone: str) -> None:
        if isinstance(self.state, EscrowState) and self.state.fence >= 2:
            donor = ZONES[(ZONES.index(zone) + 1) % 3]
            with pytest.raises(Fenced):
                escrow_stock.rebalance(self.state, Rebalance(donor, zone, 1), self.state.fence - 1, self.now)

    def drain(self) -> None:
        while self.queue:
            self._deliver()
        if isinstance(self.state, EventualState):
            self.state = eventual_stock.reconcile(self.state, self.now)
        s = summary(self.state)
        assert s.held == sum(self.held.values()) and s.committed == self.committed


@SEEDED
@given(st.sampled_from(list(StrategyName)), st.integers(0, 60), steps)
def test_random_interleavings_conserve_stock(
    name: StrategyName, stock: int, ops: list[tuple[str, int, int]]
) -> None:
    h = Harness(new_state(name, stock, ZONES, owner="us", low_watermark=4))
    assert strategy_of(h.state) is name
    for op in ops:
        h.step(*op)
    h.drain()
    assert conserved(h.state)


@SEEDED
@given(st.sampled_from([StrategyName.STRONG, StrategyName.ESCROW]), st.integers(0, 40), steps)
def test_strong_and_escrow_never_oversell_even_when_demand_exceeds_stock(
    name: StrategyName, stock: int, ops: list[tuple[str, int, int]]
) -> None:
    h = Harness(new_state(name, stock, ZONES, low_watermark=2))
    for kind, zi, q in ops:
        h.step("reserve" if kind == "release" else kind, zi, q)  # no units ever come back
        assert summary(h.state).held + summary(h.state).committed <= stock
    h.drain()
    assert oversold(h.state) == 0


@SEEDED
@given(st.integers(0, 40), steps)
def test_eventual_reconciled_after_every_step_never_oversells(
    stock: int, ops: list[tuple[str, int, int]]
) -> None:
    h = Harness(eventual_stock.new(stock, ZONES))
    for op in ops:
        h.step(*op)
        assert isinstance(h.state, EventualState)
        h.state = eventual_stock.reconcile(h.state, h.now)
        assert oversold(h.state) == 0


def test_eventual_oversells_under_concurrent_demand_and_reports_it() -> None:
    state: EventualState = eventual_stock.new(10, ZONES)
    for zone in ZONES:  # each zone sells "the last 10" before hearing from the others
        state, out = reserve(state, zone, 10, now_us=1)
        assert out.granted
    assert oversold(state) == 20
    state = eventual_stock.reconcile(state, now_us=2)
    assert all(eventual_stock.available_in(state, z) == -20 for z in ZONES)
    state, out = reserve(state, "eu", 1, now_us=3)
    assert out.verdict is Verdict.REFUSED
    report = summary(state)
    assert (report.free, report.held, report.oversold) == (-20, 30, 20)
    assert conserved(state)


def test_eventual_with_reconciliation_delay_oversells_in_a_seeded_flash_sale() -> None:
    rng = random.Random(4)
    delayed, prompt = eventual_stock.new(200, ZONES), eventual_stock.new(200, ZONES)
    for t in range(600):  # demand 3x the stock, gossip every 25 steps vs every step
        zone, q = rng.choice(ZONES), rng.randint(1, 2)
        delayed, _ = reserve(delayed, zone, q, t)
        prompt, _ = reserve(prompt, zone, q, t)
        prompt = eventual_stock.reconcile(prompt, t)
        if t % 25 == 0:
            delayed = eventual_stock.reconcile(delayed, t)
    assert oversold(delayed) > 0
    assert oversold(prompt) == 0 and summary(prompt).held == 200


def test_gossip_is_idempotent_and_order_insensitive() -> None:
    state: EventualState = eventual_stock.new(50, ZONES)
    state, _ = reserve(state, "eu", 5, 1)
    old = eventual_stock.gossip(state, "eu")
    state, _ = reserve(state, "eu", 7, 2)
    new = eventual_stock.gossip(state, "eu")
    once = eventual_stock.merge(state, "us", new, 3)
    again = eventual_stock.merge(eventual_stock.merge(once, "us", old, 4), "us", new, 5)
    assert eventual_stock.available_in(again, "us") == eventual_stock.available_in(once, "us") == 38


def test_strong_forwards_non_owner_calls_to_the_owner() -> None:
    state = new_state(StrategyName.STRONG, 5, ZONES, owner="eu")
    same, out = reserve(state, "us", 3, 1)
    assert same == state and out.verdict is Verdict.FORWARD and out.forward_to == "eu"
    state, out = reserve(state, "eu", 5, 2)
    assert out.granted and out.available == 0
    state, out = reserve(state, "eu", 1, 3)
    assert out.verdict is Verdict.REFUSED


def test_escrow_reserves_only_from_local_quota_and_asks_for_a_rebalance() -> None:
    state: EscrowState = escrow_stock.new(30, ZONES, quotas=[2, 20, 8], low_watermark=3)
    state, out = reserve(state, "eu", 3, 1)
    assert out.verdict is Verdict.REFUSED and out.rebalance == RebalanceRequest("eu", 1)
    move = escrow_stock.plan_rebalance(state, RebalanceRequest("eu", 1))
    assert move == Rebalance("us", "eu", 9)  # the zone with the most headroom; half the gap
    state, moved = escrow_stock.rebalance(state, move, token=1, now_us=2)
    assert (moved, state.quota) == (9, (11, 11, 8))
    state, out = reserve(state, "eu", 9, 3)
    assert out.granted and out.rebalance == RebalanceRequest("eu", 1)


def test_escrow_refuses_a_rebalance_with_a_stale_fencing_token() -> None:
    state: EscrowState = escrow_stock.new(30, ZONES)
    state, _ = escrow_stock.rebalance(state, Rebalance("us", "eu", 2), token=5, now_us=1)
    with pytest.raises(Fenced) as err:
        escrow_stock.rebalance(state, Rebalance("apac", "eu", 2), token=4, now_us=2)
    assert err.value.reason == "FENCED"
    state, moved = escrow_stock.rebalance(state, Rebalance("apac", "eu", 2), token=5, now_us=3)
    assert moved == 2 and state.quota == (14, 8, 8) and state.fence == 5


def test_escrow_rebalance_moves_no_more_than_the_donor_still_has() -> None:
    state: EscrowState = escrow_stock.new(9, ZONES)
    move = escrow_stock.plan_rebalance(state, RebalanceRequest("eu", 3))
    assert move is not None
    state, _ = reserve(state, move.from_zone, 3, 1)  # the donor sells before the lock is granted
    state, moved = escrow_stock.rebalance(state, move, token=1, now_us=2)
    assert moved == 0 and conserved(state) and min(state.quota) >= 0


@pytest.mark.parametrize("name", list(StrategyName))
@pytest.mark.parametrize(
    ("zone", "quantity", "field"),
    [("eu", 0, "quantity"), ("eu", -5, "quantity"), ("eu", 10**12, "quantity"), ("mars", 1, "zone")],
)
def test_bad_reserve_arguments_are_invalid_argument(
    name: StrategyName, zone: str, quantity: int, field: str
) -> None:
    state = new_state(name, 10, ZONES)
    with pytest.raises(InvalidArgument) as err:
        reserve(state, zone, quantity, 1)
    assert [v.field for v in err.value.violations] == [field]


@pytest.mark.parametrize("name", list(StrategyName))
def test_releasing_more_than_held_is_refused(name: StrategyName) -> None:
    state = new_state(name, 10, ZONES)
    state, _ = reserve(state, "eu", 2, 1)
    with pytest.raises(InvalidArgument):
        release(state, "eu", 3, 2)
    with pytest.raises(InvalidArgument):
        new_state(name, -1, ZONES)
