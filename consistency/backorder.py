"""Tenant backorder policy: what an order becomes when stock is short, and the status path it follows.

- reject: any short line refuses the whole order (INSUFFICIENT_INVENTORY); nothing is written.
- backorder_all: any short line backorders the whole order and holds nothing, so no stock sits idle
  in holds that would expire before the rest arrives; stock arriving re-runs `decide`.
- ship_partial(threshold_bps): if the units available cover at least threshold_bps/10000 of the units
  ordered (and at least one), hold what is there and backorder the remainder (the order is ALLOCATED,
  ships as PARTIALLY_SHIPPED, then SHIPPED); below the threshold, backorder all.
A fully available order is allocated under every policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ordermesh.errors import InsufficientInventory, InvalidArgument, InvalidTransition
from ordermesh.order import Order
from ordermesh.status import OrderStatus

S = OrderStatus


class BackorderMode(StrEnum):
    REJECT = "reject"
    BACKORDER_ALL = "backorder_all"
    SHIP_PARTIAL = "ship_partial"


@dataclass(frozen=True, slots=True)
class BackorderPolicy:
    mode: BackorderMode = BackorderMode.REJECT
    threshold_bps: int = 0  # ship_partial only: the least fill ratio shipped partially, in 1/10000

    def __post_init__(self) -> None:
        if not 0 <= self.threshold_bps <= 10_000:
            raise ValueError("threshold_bps must be 0..10000")
        if self.mode is not BackorderMode.SHIP_PARTIAL and self.threshold_bps:
            raise ValueError("threshold_bps applies to ship_partial only")


REJECT = BackorderPolicy(BackorderMode.REJECT)
BACKORDER_ALL = BackorderPolicy(BackorderMode.BACKORDER_ALL)


def ship_partial(threshold_bps: int) -> BackorderPolicy:
    return BackorderPolicy(BackorderMode.SHIP_PARTIAL, threshold_bps)


class Outcome(StrEnum):
    ALLOCATE = "allocate"  # every line held in full
    PARTIAL = "partial"  # some units held, the remainder backordered
    BACKORDER = "backorder"  # nothing held; the order waits for stock
    REJECT = "reject"  # refused; the order is not created


@dataclass(frozen=True, slots=True)
class LineDemand:
    line_no: int
    sku: str
    requested: int
    available: int  # units the allocation found for this line (visible ATP, capped by the plan)


@dataclass(frozen=True, slots=True)
class BackorderDecision:
    outcome: Outcome
    hold: tuple[int, ...]  # units to reserve now, per line (in the order of the demands)
    backordered: tuple[int, ...]  # units left waiting, per line
    target: OrderStatus | None  # the order's status after the decision; None when rejected
    error: InsufficientInventory | None = None  # set when rejected: raise it, write nothing


# From an order's status to the target, through valid edges of ordermesh.status only.
_PATHS: dict[tuple[OrderStatus, OrderStatus], tuple[OrderStatus, ...]] = {
    (S.PENDING, S.ALLOCATED): (S.CONFIRMED, S.ALLOCATED),
    (S.PENDING, S.BACKORDERED): (S.BACKORDERED,),
    (S.CONFIRMED, S.ALLOCATED): (S.ALLOCATED,),
    (S.CONFIRMED, S.BACKORDERED): (S.BACKORDERED,),
    (S.BACKORDERED, S.ALLOCATED): (S.ALLOCATED,),
    (S.BACKORDERED, S.BACKORDERED): (),
    # an order put on hold (e.g. its stock hold expired) is decided again when it is released
    (S.ON_HOLD, S.ALLOCATED): (S.ALLOCATED,),
    (S.ON_HOLD, S.BACKORDERED): (S.BACKORDERED,),
}
DECIDABLE: frozenset[OrderStatus] = frozenset({S.PENDING, S.CONFIRMED, S.BACKORDERED, S.ON_HOLD})


def decide(
    policy: BackorderPolicy, lines: Sequence[LineDemand], current: OrderStatus = S.PENDING
) -> BackorderDecision:
    """The policy's verdict for an order whose lines found `available` units each."""
    if current not in DECIDABLE:
        raise InvalidTransition(
            f"an order that is {current.value} is past allocation",
            {"from": current.value, "to": S.ALLOCATED.value},
        )
    if not lines:
        raise InvalidArgument.single("lines", "an order needs at least one line")
    fill = tuple(max(0, min(d.requested, d.available)) for d in lines)
    wanted = sum(d.requested for d in lines)
    got = sum(fill)
    none = tuple(0 for _ in lines)
    if got == wanted:
        return BackorderDecision(Outcome.ALLOCATE, fill, none, S.ALLOCATED)
    if policy.mode is BackorderMode.REJECT:
        short = next(d for d, f in zip(lines, fill, strict=True) if f < d.requested)
        error = InsufficientInventory(
            f"{short.sku}: {short.requested} ordered, {max(0, short.available)} available",
            {"sku": short.sku, "requested": str(short.requested), "available": str(max(0, short.available))},
        )
        return BackorderDecision(Outcome.REJECT, none, none, None, error)
    everything = tuple(d.requested for d in lines)
    partial_ok = got > 0 and got * 10_000 >= policy.threshold_bps * wanted
    if policy.mode is BackorderMode.SHIP_PARTIAL and partial_ok:
        rest = tuple(d.requested - f for d, f in zip(lines, fill, strict=True))
        return BackorderDecision(Outcome.PARTIAL, fill, rest, S.ALLOCATED)
    return BackorderDecision(Outcome.BACKORDER, none, everything, S.BACKORDERED)


def status_path(current: OrderStatus, target: OrderStatus) -> tuple[OrderStatus, ...]:
    """The statuses an order passes through from `current` to `target`, each a valid transition."""
    try:
        return _PATHS[(current, target)]
    except KeyError:
        raise InvalidTransition(
            f"no allocation path from {current.value} to {target.value}",
            {"from": current.value, "to": target.value},
        ) from None


def apply(order: Order, decision: BackorderDecision, now_us: int) -> Order:
    """The order after the decision (raises the decision's error when it was rejected)."""
    if decision.target is None:
        raise decision.error or InsufficientInventory("order rejected for insufficient inventory")
    for step in status_path(order.status, decision.target):
        order = order.change_status(step, now_us)
    return order
