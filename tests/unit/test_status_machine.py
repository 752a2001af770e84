"""The order status state machine: exactly the documented edges, no others."""

from __future__ import annotations

from collections import deque

import pytest

from ordermesh.status import CANCELLABLE, INITIAL, TERMINAL, TRANSITIONS, OrderStatus, can_transition

# Written out independently of ordermesh/status.py: a change to the table must change this too.
EXPECTED_EDGES: dict[str, set[str]] = {
    "pending": {"confirmed", "backordered", "on_hold", "cancelled"},
    "confirmed": {"allocated", "backordered", "on_hold", "cancelled"},
    "backordered": {"allocated", "on_hold", "cancelled"},
    "allocated": {"partially_shipped", "shipped", "on_hold", "cancelled"},
    "partially_shipped": {"shipped"},
    "shipped": {"delivered", "returned"},
    "delivered": {"returned"},
    "on_hold": {"pending", "confirmed", "backordered", "allocated", "cancelled"},
    "cancelled": set(),
    "returned": set(),
}
ALL = sorted(EXPECTED_EDGES)
PAIRS = [(a, b) for a in ALL for b in ALL]


def test_the_ten_statuses_and_their_wire_values_are_fixed() -> None:
    # The values are stored in databases and events: renaming one breaks every stored order.
    assert sorted(s.value for s in OrderStatus) == ALL
    assert set(TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_pair_is_allowed_exactly_when_listed(current: str, target: str) -> None:
    expected = target in EXPECTED_EDGES[current]
    assert can_transition(OrderStatus(current), OrderStatus(target)) is expected


def test_no_status_moves_to_itself() -> None:
    assert not any(can_transition(s, s) for s in OrderStatus)


def test_terminal_states_are_cancelled_and_returned_and_have_no_exits() -> None:
    assert {s.value for s in TERMINAL} == {"cancelled", "returned"}
    for s in TERMINAL:
        assert not any(can_transition(s, t) for t in OrderStatus)


def test_cancellable_is_exactly_the_statuses_before_shipping() -> None:
    assert {s.value for s in CANCELLABLE} == {"pending", "confirmed", "backordered", "allocated", "on_hold"}
    for s in OrderStatus:
        assert can_transition(s, OrderStatus.CANCELLED) is (s in CANCELLABLE)


def _reachable(start: OrderStatus) -> set[OrderStatus]:
    seen = {start}
    todo = deque([start])
    while todo:
        current = todo.popleft()
        for nxt in OrderStatus:
            if nxt not in seen and can_transition(current, nxt):
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_status_is_reachable_from_the_initial_one() -> None:
    assert INITIAL is OrderStatus.PENDING
    assert _reachable(INITIAL) == set(OrderStatus)


def test_every_status_can_still_end_in_a_terminal_state() -> None:
    # No status traps an order forever (e.g. an on_hold that can only go back to on_hold).
    for s in OrderStatus:
        assert _reachable(s) & TERMINAL, s
