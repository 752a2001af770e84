"""The `eventual` strategy: every zone decides from its own copy of the count and learns the other
zones' sales by asynchronous gossip. Fast and always available, but two zones can sell the same last
units before they hear of each other: the oversell is measured (units held or shipped beyond the
stock) and reported, never prevented.

The count is a PN-counter (Shapiro et al., CRDTs): per zone, a grow-only count of units taken and one
of units returned. Merging is an element-wise max, so gossip may be delayed, repeated or reordered and
the zones still converge on the true count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consistency.zone_stock import Outcome, Summary, Verdict, bump, check_new, check_quantity, check_zone
from ordermesh.errors import InvalidArgument

Row = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EventualState:
    zones: tuple[str, ...]
    stock: int
    taken: tuple[Row, ...]  # taken[i][j]: units zone i knows zone j has held (grow-only)
    returned: tuple[Row, ...]  # returned[i][j]: units zone i knows zone j has released (grow-only)
    committed: Row  # units each zone has shipped (local knowledge only: it does not change the count)
    as_of_us: int = 0


@dataclass(frozen=True, slots=True)
class Gossip:
    """A snapshot of one zone's view, taken when the message is sent and merged when it arrives."""

    zone: str
    taken: Row
    returned: Row


def _with(
    state: EventualState, taken: tuple[Row, ...], returned: tuple[Row, ...], committed: Row, now_us: int
) -> EventualState:
    # a constructor call, not dataclasses.replace: several times cheaper, once per simulated order
    return EventualState(state.zones, state.stock, taken, returned, committed, now_us)


def new(stock: int, zones: Sequence[str], now_us: int = 0) -> EventualState:
    check_new(stock, zones)
    zero = tuple(0 for _ in zones)
    rows = tuple(zero for _ in zones)
    return EventualState(tuple(zones), stock, rows, rows, zero, now_us)


def available_in(state: EventualState, zone: str) -> int:
    """Units `zone` believes are still free (may be optimistic; negative once it learns of an oversell)."""
    i = check_zone(state.zones, zone)
    return state.stock - sum(state.taken[i]) + sum(state.returned[i])


def _set(rows: tuple[Row, ...], i: int, delta: int) -> tuple[Row, ...]:
    return (*rows[:i], bump(rows[i], i, delta), *rows[i + 1 :])


def reserve(state: EventualState, zone: str, quantity: int, now_us: int) -> tuple[EventualState, Outcome]:
    """Holds if the zone's own view has the units; no other zone is asked."""
    check_quantity(quantity)
    have = available_in(state, zone)
    if quantity > have:
        return state, Outcome(Verdict.REFUSED, zone, quantity, max(0, have))
    i = state.zones.index(zone)
    after = _with(state, _set(state.taken, i, quantity), state.returned, state.committed, now_us)
    return after, Outcome(Verdict.GRANTED, zone, quantity, have - quantity)


def held(state: EventualState, zone: str) -> int:
    i = check_zone(state.zones, zone)
    return state.taken[i][i] - state.returned[i][i] - state.committed[i]


def _check_held(state: EventualState, zone: str, quantity: int) -> int:
    check_quantity(quantity)
    if quantity > held(state, zone):
        raise InvalidArgument.single("quantity", f"exceeds the {held(state, zone)} units held in zone {zone}")
    return state.zones.index(zone)


def release(state: EventualState, zone: str, quantity: int, now_us: int) -> tuple[EventualState, Outcome]:
    i = _check_held(state, zone, quantity)
    after = _with(state, state.taken, _set(state.returned, i, quantity), state.committed, now_us)
    return after, Outcome(Verdict.GRANTED, zone, quantity, available_in(after, zone))


def commit(state: EventualState, zone: str, quantity: int, now_us: int) -> tuple[EventualState, Outcome]:
    i = _check_held(state, zone, quantity)
    after = _with(state, state.taken, state.returned, bump(state.committed, i, quantity), now_us)
    return after, Outcome(Verdict.GRANTED, zone, quantity, available_in(after, zone))


def gossip(state: EventualState, zone: str) -> Gossip:
    i = check_zone(state.zones, zone)
    return Gossip(zone, state.taken[i], state.returned[i])


def merge(state: EventualState, zone: str, message: Gossip, now_us: int) -> EventualState:
    """`zone` receives `message`: element-wise max, so late, repeated or reordered gossip is harmless."""
    i = check_zone(state.zones, zone)
    check_zone(state.zones, message.zone)
    taken = tuple(map(max, state.taken[i], message.taken))
    returned = tuple(map(max, state.returned[i], message.returned))
    rows_taken = (*state.taken[:i], taken, *state.taken[i + 1 :])
    rows_returned = (*state.returned[:i], returned, *state.returned[i + 1 :])
    return _with(state, rows_taken, rows_returned, state.committed, now_us)


def reconcile(state: EventualState, now_us: int) -> EventualState:
    """Every zone learns everything (a full anti-entropy round with no delay)."""
    n = len(state.zones)
    truth_taken = tuple(state.taken[j][j] for j in range(n))
    truth_returned = tuple(state.returned[j][j] for j in range(n))
    return _with(state, (truth_taken,) * n, (truth_returned,) * n, state.committed, now_us)


def _net(state: EventualState) -> int:
    return sum(state.taken[j][j] - state.returned[j][j] for j in range(len(state.zones)))


def oversold(state: EventualState) -> int:
    """Units held or shipped beyond the stock, by the true (merged) count."""
    return max(0, _net(state) - state.stock)


def conserved(state: EventualState) -> bool:
    """No zone knows of more sales than were made, and no zone holds a negative amount: merges neither
    invent nor lose units. (The stock itself may be oversold: that is `oversold`, not a leak.)"""
    n = range(len(state.zones))
    views_ok = all(
        state.taken[i][j] <= state.taken[j][j] and state.returned[i][j] <= state.returned[j][j]
        for i in n
        for j in n
    )
    return views_ok and all(state.taken[j][j] - state.returned[j][j] - state.committed[j] >= 0 for j in n)


def summary(state: EventualState) -> Summary:
    n = range(len(state.zones))
    holding = sum(state.taken[j][j] - state.returned[j][j] - state.committed[j] for j in n)
    shipped = sum(state.committed)
    return Summary("eventual", state.stock, state.stock - _net(state), holding, shipped, oversold(state))
