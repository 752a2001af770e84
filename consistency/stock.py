"""Stock per SKU per warehouse and available-to-promise: the value types and the ATP arithmetic.

`on_hand` counts physical units in the warehouse, held ones included; `reserved` counts the held ones;
`safety_stock` is never promised. The transitions that move units live in consistency.inventory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ordermesh.errors import FieldViolation, InvalidArgument
from ordermesh.order import SKU

MAX_STOCK = 1_000_000_000  # units of one SKU in one warehouse; more is a data-entry error, not stock
SKU_RULE = "1..64 of A-Z a-z 0-9 . _ : / -, starting alphanumeric"


@dataclass(frozen=True, slots=True)
class Warehouse:
    """A stock location in one region, and so in exactly one zone."""

    name: str
    region: str
    zone: str
    capacity: int | None = None  # units it can still pick in the current window; None: no limit
    cost: int = 0  # handling + shipping cost per unit in minor units; only compared, never charged


@dataclass(frozen=True, slots=True)
class StockLevel:
    """One SKU in one warehouse; a warehouse stocks a SKU only if it has a row (on_hand may be 0)."""

    sku: str
    warehouse: str
    on_hand: int
    reserved: int = 0
    safety_stock: int = 0

    @property
    def free(self) -> int:
        return self.on_hand - self.reserved

    def moved(self, on_hand: int = 0, reserved: int = 0) -> StockLevel:
        """This row with the deltas applied. A direct constructor call: dataclasses.replace costs several
        times more, and the simulator moves stock for every order."""
        return StockLevel(
            self.sku, self.warehouse, self.on_hand + on_hand, self.reserved + reserved, self.safety_stock
        )


@dataclass(frozen=True, slots=True)
class Inbound:
    """Stock on its way to a warehouse, promisable from its estimated arrival time."""

    sku: str
    warehouse: str
    quantity: int
    eta_us: int


def arriving(inbound: Iterable[Inbound], sku: str, by_us: int) -> dict[str, int]:
    """Units of `sku` arriving at each warehouse at or before `by_us`."""
    out: dict[str, int] = {}
    for item in inbound:
        if item.sku == sku and item.eta_us <= by_us:
            out[item.warehouse] = out.get(item.warehouse, 0) + item.quantity
    return out


def warehouse_atp(level: StockLevel, inbound_units: int = 0) -> int:
    """on_hand + inbound - reserved - safety_stock, clamped at 0.

    Clamped per warehouse: a warehouse in deficit (safety stock raised above free stock, or an
    eventual-strategy oversell) promises nothing, but its deficit must not eat the stock of another
    warehouse, which cannot ship units on its behalf.
    """
    return max(0, level.on_hand + inbound_units - level.reserved - level.safety_stock)


def atp_by_warehouse(
    levels: Iterable[StockLevel],
    inbound: Iterable[Inbound],
    warehouses: Mapping[str, Warehouse],
    sku: str,
    zone: str,
    by_us: int,
) -> dict[str, int]:
    """ATP of `sku` in each warehouse of `zone`; levels of warehouses not in `warehouses` are ignored."""
    incoming = arriving(inbound, sku, by_us)
    out: dict[str, int] = {}
    for level in levels:
        wh = warehouses.get(level.warehouse)
        if level.sku == sku and wh is not None and wh.zone == zone:
            out[level.warehouse] = warehouse_atp(level, incoming.get(level.warehouse, 0))
    return out


def available_to_promise(
    levels: Iterable[StockLevel],
    inbound: Iterable[Inbound],
    warehouses: Mapping[str, Warehouse],
    sku: str,
    zone: str,
    by_us: int,
) -> int:
    """Units of `sku` promisable in `zone` by `by_us`: the sum of the clamped per-warehouse ATPs."""
    return sum(atp_by_warehouse(levels, inbound, warehouses, sku, zone, by_us).values())


def promisable_base(level: StockLevel, inbound_units: int = 0) -> int:
    """Units a warehouse could promise if nothing were held: the base a tier holdback is a share of."""
    return max(0, level.on_hand + inbound_units - level.safety_stock)


def quantity_problem(value: object, most: int) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        return f"must be an integer 1..{most}"
    return None


def validate_level(level: StockLevel, at: str = "stock_level") -> None:
    """Checks a stock row set by an operator (SetStock); reserved is the service's own, so only >= 0."""
    bad: list[FieldViolation] = []
    for name, value in (("on_hand", level.on_hand), ("safety_stock", level.safety_stock)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_STOCK:
            bad.append(FieldViolation(f"{at}.{name}", f"must be an integer 0..{MAX_STOCK}"))
    if not isinstance(level.reserved, int) or level.reserved < 0:
        bad.append(FieldViolation(f"{at}.reserved", "must be an integer >= 0"))
    if not isinstance(level.sku, str) or not SKU.match(level.sku):
        bad.append(FieldViolation(f"{at}.sku", SKU_RULE))
    if bad:
        raise InvalidArgument.of(bad)


def validate_inbound(item: Inbound, at: str = "inbound") -> None:
    bad: list[FieldViolation] = []
    problem = quantity_problem(item.quantity, MAX_STOCK)
    if problem:
        bad.append(FieldViolation(f"{at}.quantity", problem))
    if not isinstance(item.eta_us, int) or isinstance(item.eta_us, bool) or item.eta_us < 0:
        bad.append(FieldViolation(f"{at}.eta_us", "must be an integer >= 0 (microseconds since the epoch)"))
    if bad:
        raise InvalidArgument.of(bad)
