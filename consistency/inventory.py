"""Order-line reservations of warehouse stock: the pure reserve/commit/release/expire transitions
(and, re-exported from consistency.stock, the stock value types and available-to-promise).

Units model: `on_hand` counts physical units in the warehouse, held ones included; `reserved` counts the
held ones. So reserve/release/expire only move units between free (`on_hand - reserved`) and reserved and
never change `on_hand`; a commit (shipment) takes the units out of both. A receipt of inbound stock is the
only other change to `on_hand`. Every function returns new values and writes nothing: the storage layer
(or the simulator) looks rows up, calls these, and stores what comes back in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from consistency.stock import (
    MAX_STOCK,
    SKU_RULE,
    Inbound,
    StockLevel,
    Warehouse,
    arriving,
    atp_by_warehouse,
    available_to_promise,
    promisable_base,
    quantity_problem,
    validate_inbound,
    validate_level,
    warehouse_atp,
)
from ordermesh.errors import (
    FieldViolation,
    IdempotencyKeyReused,
    InsufficientInventory,
    InvalidArgument,
    InvalidTransition,
)
from ordermesh.order import MAX_QUANTITY, SKU

# The stock value types and ATP are part of this module's API (callers import them from here).
__all__ = [
    "MAX_HOLD_US",
    "MAX_STOCK",
    "HoldState",
    "Inbound",
    "Reservation",
    "StockLevel",
    "Warehouse",
    "arriving",
    "atp_by_warehouse",
    "available_to_promise",
    "commit",
    "expire",
    "expired",
    "is_due",
    "promisable_base",
    "receive",
    "release",
    "reservation_id",
    "reserve",
    "reserve_line",
    "validate_inbound",
    "validate_level",
    "validate_lines",
    "warehouse_atp",
]

MAX_HOLD_US = 30 * 24 * 3600 * 1_000_000  # a hold longer than 30 days is a bug in the caller


class HoldState(StrEnum):
    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Reservation:
    """Units of one order line held in one warehouse until `expires_us` (a split line has several)."""

    reservation_id: str
    order_id: str
    line_no: int
    sku: str
    warehouse: str
    quantity: int
    state: HoldState
    expires_us: int

    def to(self, state: HoldState) -> Reservation:
        return Reservation(
            self.reservation_id,
            self.order_id,
            self.line_no,
            self.sku,
            self.warehouse,
            self.quantity,
            state,
            self.expires_us,
        )


def reservation_id(order_id: str, line_no: int, warehouse: str) -> str:
    """Derived from the idempotency key, so a retried reserve hits the same primary key."""
    return f"{order_id}/{line_no}/{warehouse}"


def validate_lines(lines: Sequence[tuple[str, int]], known_skus: Collection[str], at: str = "lines") -> None:
    """Checks (sku, quantity) pairs before any write; all problems in one InvalidArgument.

    An unknown SKU is INVALID_ARGUMENT, not NOT_FOUND: the catalogue is the caller's own, so naming the
    bad field leaks nothing, and NOT_FOUND stays reserved for tenants and orders (DESIGN.md rule 4).
    """
    bad: list[FieldViolation] = []
    for i, (sku, quantity) in enumerate(lines):
        if not isinstance(sku, str) or not SKU.match(sku):
            bad.append(FieldViolation(f"{at}[{i}].sku", SKU_RULE))
        elif sku not in known_skus:
            bad.append(FieldViolation(f"{at}[{i}].sku", f"unknown sku {sku!r}"))
        problem = quantity_problem(quantity, MAX_QUANTITY)
        if problem:
            bad.append(FieldViolation(f"{at}[{i}].quantity", problem))
    if bad:
        raise InvalidArgument.of(bad)


def _check_hold_args(order_id: str, line_no: int, picks: Sequence[tuple[str, int]], hold_us: int) -> None:
    bad: list[FieldViolation] = []
    if not isinstance(order_id, str) or not order_id:
        bad.append(FieldViolation("order_id", "required"))
    if not isinstance(line_no, int) or isinstance(line_no, bool) or not 0 <= line_no < 10_000:
        bad.append(FieldViolation("line_no", "must be an integer 0..9999"))
    if not picks:
        bad.append(FieldViolation("picks", "at least one warehouse pick"))
    elif len({w for w, _ in picks}) != len(picks):
        bad.append(FieldViolation("picks", "one pick per warehouse; merge them"))
    for i, (_, quantity) in enumerate(picks):
        problem = quantity_problem(quantity, MAX_QUANTITY)
        if problem:
            bad.append(FieldViolation(f"picks[{i}].quantity", problem))
    if quantity_problem(hold_us, MAX_HOLD_US):
        bad.append(FieldViolation("hold_us", f"must be an integer 1..{MAX_HOLD_US}"))
    if bad:
        raise InvalidArgument.of(bad)


def _replay(existing: Sequence[Reservation], wanted: int, order_id: str, line_no: int) -> None:
    if sum(r.quantity for r in existing) != wanted:
        raise IdempotencyKeyReused(
            f"order {order_id} line {line_no} is already reserved with a different quantity",
            {"order_id": order_id, "line_no": str(line_no)},
        )


def _hold(
    level: StockLevel, order_id: str, line_no: int, quantity: int, now_us: int, hold_us: int, inbound: int
) -> tuple[StockLevel, Reservation]:
    atp = warehouse_atp(level, inbound)
    if quantity > atp:
        raise InsufficientInventory(
            f"{level.sku} in {level.warehouse}: {quantity} wanted, {atp} available to promise",
            {
                "sku": level.sku,
                "warehouse": level.warehouse,
                "requested": str(quantity),
                "available": str(atp),
            },
        )
    hold = Reservation(
        reservation_id(order_id, line_no, level.warehouse),
        order_id,
        line_no,
        level.sku,
        level.warehouse,
        quantity,
        HoldState.HELD,
        now_us + hold_us,
    )
    return level.moved(reserved=quantity), hold


def reserve_line(
    levels: Mapping[str, StockLevel],
    existing: Sequence[Reservation],
    order_id: str,
    line_no: int,
    picks: Sequence[tuple[str, int]],
    now_us: int,
    hold_us: int,
    inbound_units: Mapping[str, int] | None = None,
) -> tuple[dict[str, StockLevel], tuple[Reservation, ...]]:
    """Holds `picks` ((warehouse, units) pairs) of one order line, all or nothing.

    `levels` maps warehouse -> the line's StockLevel there; `existing` are the reservations already
    stored for (order_id, line_no). Idempotent per order line: if any exist, in whatever state, they are
    returned and nothing changes (a retried CreateOrder never double-counts); the same line asked for a
    different total is IdempotencyKeyReused. Only the stock levels that changed are returned.
    """
    _check_hold_args(order_id, line_no, picks, hold_us)
    if existing:
        _replay(existing, sum(q for _, q in picks), order_id, line_no)
        return {}, tuple(existing)
    changed: dict[str, StockLevel] = {}
    holds: list[Reservation] = []
    for i, (warehouse, quantity) in enumerate(picks):
        level = levels.get(warehouse)
        if level is None:
            raise InvalidArgument.single(f"picks[{i}].warehouse", f"{warehouse!r} does not stock this sku")
        inbound = (inbound_units or {}).get(warehouse, 0)
        changed[warehouse], hold = _hold(level, order_id, line_no, quantity, now_us, hold_us, inbound)
        holds.append(hold)
    return changed, tuple(holds)


def reserve(
    level: StockLevel,
    existing: Sequence[Reservation],
    order_id: str,
    line_no: int,
    quantity: int,
    now_us: int,
    hold_us: int,
    inbound_units: int = 0,
) -> tuple[StockLevel, Reservation]:
    """reserve_line for a line held in a single warehouse (the common case, and the simulator's); a
    replayed split line returns its first reservation."""
    _check_hold_args(order_id, line_no, ((level.warehouse, quantity),), hold_us)
    if existing:
        _replay(existing, quantity, order_id, line_no)
        return level, existing[0]
    return _hold(level, order_id, line_no, quantity, now_us, hold_us, inbound_units)


def _same_row(level: StockLevel, hold: Reservation) -> None:
    if (level.sku, level.warehouse) != (hold.sku, hold.warehouse):
        raise ValueError(f"reservation {hold.reservation_id} is not for {level.sku} in {level.warehouse}")


def commit(level: StockLevel, hold: Reservation) -> tuple[StockLevel, Reservation]:
    """On shipment: the held units leave the warehouse, so on_hand and reserved both drop.

    Idempotent (a committed hold commits again as a no-op). A hold past its expiry that the reaper has
    not reached yet may still commit: the units did ship, and the reaper skips non-held rows.
    """
    _same_row(level, hold)
    if hold.state is HoldState.COMMITTED:
        return level, hold
    if hold.state is not HoldState.HELD:
        raise InvalidTransition(
            f"reservation {hold.reservation_id} is {hold.state.value}; it can no longer ship",
            {"from": hold.state.value, "to": HoldState.COMMITTED.value},
        )
    if level.on_hand < hold.quantity:
        raise InsufficientInventory(
            f"{hold.sku} in {hold.warehouse}: {hold.quantity} to ship, {level.on_hand} received so far",
            {"sku": hold.sku, "warehouse": hold.warehouse, "on_hand": str(level.on_hand)},
        )
    return level.moved(-hold.quantity, -hold.quantity), hold.to(HoldState.COMMITTED)


def _free(level: StockLevel, hold: Reservation, to: HoldState) -> tuple[StockLevel, Reservation]:
    return level.moved(reserved=-hold.quantity), hold.to(to)


def release(level: StockLevel, hold: Reservation) -> tuple[StockLevel, Reservation]:
    """On cancel: the held units become free again. Idempotent; a shipped hold cannot be released."""
    _same_row(level, hold)
    if hold.state in (HoldState.RELEASED, HoldState.EXPIRED):
        return level, hold
    if hold.state is HoldState.COMMITTED:
        raise InvalidTransition(
            f"reservation {hold.reservation_id} has shipped; that is a return, not a release",
            {"from": hold.state.value, "to": HoldState.RELEASED.value},
        )
    return _free(level, hold, HoldState.RELEASED)


def is_due(hold: Reservation, now_us: int) -> bool:
    """A hold expires at `expires_us` exactly (now_us >= expires_us)."""
    return hold.state is HoldState.HELD and now_us >= hold.expires_us


def expired(holds: Iterable[Reservation], now_us: int) -> list[Reservation]:
    """The reaper's work list: held reservations whose hold TTL has run out at `now_us`."""
    return [h for h in holds if is_due(h, now_us)]


def expire(level: StockLevel, hold: Reservation, now_us: int) -> tuple[StockLevel, Reservation]:
    """The reaper's transition; a no-op unless the hold is still held and due (it lost a race to a commit
    or a cancel, or was re-read before its time), so a reaper may re-run safely."""
    _same_row(level, hold)
    if not is_due(hold, now_us):
        return level, hold
    return _free(level, hold, HoldState.EXPIRED)


def receive(level: StockLevel, item: Inbound) -> StockLevel:
    """Inbound stock arrived: it becomes on-hand stock."""
    if (level.sku, level.warehouse) != (item.sku, item.warehouse):
        raise ValueError(f"inbound for {item.sku} in {item.warehouse} is not for this stock level")
    validate_inbound(item)
    return level.moved(on_hand=item.quantity)
