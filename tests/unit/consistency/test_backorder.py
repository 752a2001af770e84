"""Backorder policies: the decision and the order status, through valid state-machine edges only."""

from __future__ import annotations

import dataclasses

import pytest

from consistency.backorder import (
    BACKORDER_ALL,
    REJECT,
    BackorderDecision,
    BackorderPolicy,
    LineDemand,
    Outcome,
    apply,
    decide,
    ship_partial,
    status_path,
)
from ordermesh.errors import InsufficientInventory, InvalidTransition
from ordermesh.money import Money
from ordermesh.order import Customer, Order, OrderDraft, OrderLine
from ordermesh.status import OrderStatus, can_transition

S = OrderStatus


def order(status: OrderStatus = S.PENDING) -> Order:
    line = OrderLine("SKU-1", 4, Money(100, "EUR"))
    draft = OrderDraft(Customer("c1", "DE"), (line, OrderLine("SKU-2", 6, Money(50, "EUR"))))
    o = Order.create("ord-1", "acme", "eu", 3, draft, now_us=1)
    return o if status is S.PENDING else dataclasses.replace(o, status=status)


FULL = [LineDemand(0, "SKU-1", 4, 9), LineDemand(1, "SKU-2", 6, 6)]
SHORT = [LineDemand(0, "SKU-1", 4, 4), LineDemand(1, "SKU-2", 6, 2)]  # 6 of 10 units
EMPTY = [LineDemand(0, "SKU-1", 4, 0), LineDemand(1, "SKU-2", 6, -3)]


@pytest.mark.parametrize("policy", [REJECT, BACKORDER_ALL, ship_partial(5_000)])
def test_a_fully_available_order_is_allocated_under_every_policy(policy: BackorderPolicy) -> None:
    d = decide(policy, FULL)
    assert (d.outcome, d.hold, d.backordered, d.target) == (Outcome.ALLOCATE, (4, 6), (0, 0), S.ALLOCATED)
    assert apply(order(), d, now_us=2).status is S.ALLOCATED


def test_reject_refuses_the_whole_order_with_insufficient_inventory() -> None:
    d = decide(REJECT, SHORT)
    assert (d.outcome, d.hold, d.target) == (Outcome.REJECT, (0, 0), None)
    assert d.error is not None and d.error.reason == "INSUFFICIENT_INVENTORY"
    assert d.error.metadata == {"sku": "SKU-2", "requested": "6", "available": "2"}
    with pytest.raises(InsufficientInventory):
        apply(order(), d, now_us=2)


def test_backorder_all_holds_nothing_and_backorders_every_unit() -> None:
    d = decide(BACKORDER_ALL, SHORT)
    assert (d.outcome, d.hold, d.backordered, d.target) == (Outcome.BACKORDER, (0, 0), (4, 6), S.BACKORDERED)
    assert apply(order(), d, now_us=2).status is S.BACKORDERED


@pytest.mark.parametrize(
    ("threshold", "lines", "outcome", "hold", "rest", "target"),
    [
        (6_000, SHORT, Outcome.PARTIAL, (4, 2), (0, 4), S.ALLOCATED),  # exactly at the threshold
        (6_001, SHORT, Outcome.BACKORDER, (0, 0), (4, 6), S.BACKORDERED),
        (0, EMPTY, Outcome.BACKORDER, (0, 0), (4, 6), S.BACKORDERED),  # nothing to ship
    ],
)
def test_ship_partial_above_the_threshold_else_backorder(
    threshold: int,
    lines: list[LineDemand],
    outcome: Outcome,
    hold: tuple[int, ...],
    rest: tuple[int, ...],
    target: OrderStatus,
) -> None:
    d = decide(ship_partial(threshold), lines)
    assert (d.outcome, d.hold, d.backordered, d.target) == (outcome, hold, rest, target)
    assert apply(order(), d, now_us=2).status is target


def test_a_backordered_order_is_allocated_when_stock_arrives() -> None:
    waiting = apply(order(), decide(BACKORDER_ALL, SHORT), now_us=2)
    d = decide(BACKORDER_ALL, FULL, current=waiting.status)
    allocated = apply(waiting, d, now_us=3)
    assert allocated.status is S.ALLOCATED and allocated.version == waiting.version + 1
    still = apply(waiting, decide(BACKORDER_ALL, SHORT, current=S.BACKORDERED), now_us=3)
    assert still.status is S.BACKORDERED and still.version == waiting.version


@pytest.mark.parametrize("current", [S.PENDING, S.CONFIRMED, S.BACKORDERED])
@pytest.mark.parametrize("target", [S.ALLOCATED, S.BACKORDERED])
def test_every_status_path_uses_valid_transitions(current: OrderStatus, target: OrderStatus) -> None:
    if (current, target) == (S.BACKORDERED, S.BACKORDERED):
        assert status_path(current, target) == ()
        return
    path = status_path(current, target)
    assert path[-1] is target
    for a, b in zip((current, *path), path, strict=False):
        assert can_transition(a, b), (a, b)


def test_an_order_past_allocation_cannot_be_decided_again() -> None:
    with pytest.raises(InvalidTransition):
        decide(BACKORDER_ALL, FULL, current=S.SHIPPED)
    with pytest.raises(InvalidTransition):
        apply(order(S.CANCELLED), BackorderDecision(Outcome.ALLOCATE, (4, 6), (0, 0), S.ALLOCATED), 2)


def test_policy_configuration_is_checked() -> None:
    with pytest.raises(ValueError):
        ship_partial(10_001)
    with pytest.raises(ValueError):
        BackorderPolicy(REJECT.mode, threshold_bps=10)
