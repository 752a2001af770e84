"""The canonical order status state machine, as an explicit transition table."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    BACKORDERED = "backordered"
    ALLOCATED = "allocated"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    ON_HOLD = "on_hold"
    RETURNED = "returned"


S = OrderStatus

# from -> the statuses it may move to. Anything not listed is refused (INVALID_TRANSITION).
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.CONFIRMED, S.BACKORDERED, S.ON_HOLD, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.ALLOCATED, S.BACKORDERED, S.ON_HOLD, S.CANCELLED}),
    S.BACKORDERED: frozenset({S.ALLOCATED, S.ON_HOLD, S.CANCELLED}),
    S.ALLOCATED: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.ON_HOLD, S.CANCELLED}),
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.RETURNED}),
    S.DELIVERED: frozenset({S.RETURNED}),
    S.ON_HOLD: frozenset({S.PENDING, S.CONFIRMED, S.BACKORDERED, S.ALLOCATED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.RETURNED: frozenset(),
}

INITIAL = S.PENDING
TERMINAL: frozenset[OrderStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
CANCELLABLE: frozenset[OrderStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if S.CANCELLED in nxt)


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS[current]
