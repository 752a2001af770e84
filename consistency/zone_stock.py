"""What the multi-zone stock strategies share: the outcome of a reserve, and their argument checks.

A multi-zone SKU (a flash sale sold in several zones) has one global stock count; each strategy keeps
it in its own explicit state object, and every transition is a pure function returning a new state,
so the simulator drives them with its own clock and message delays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ordermesh.errors import InvalidArgument
from ordermesh.order import MAX_QUANTITY

MAX_GLOBAL_STOCK = 1_000_000_000


class Verdict(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"  # not enough stock as seen by the deciding zone
    FORWARD = "forward"  # strong: the caller must send the call to `forward_to` (a cross-region call)


@dataclass(frozen=True, slots=True)
class RebalanceRequest:
    """Escrow: `zone` ran low and wants `quantity` more quota (the caller plans and locks)."""

    zone: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    zone: str
    quantity: int
    available: int  # units the deciding zone saw as available after the call (-1 when forwarded)
    forward_to: str = ""
    rebalance: RebalanceRequest | None = None

    @property
    def granted(self) -> bool:
        return self.verdict is Verdict.GRANTED


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures a report or a metric wants from any strategy's state."""

    strategy: str
    stock: int  # units the SKU started with
    free: int  # true units not held or shipped (negative only after an oversell)
    held: int
    committed: int
    oversold: int


def check_zone(zones: Sequence[str], zone: str) -> int:
    """The zone's index in the state, or INVALID_ARGUMENT naming the field."""
    try:
        return zones.index(zone)
    except ValueError:
        known = ", ".join(zones)
        raise InvalidArgument.single("zone", f"{zone!r} does not sell this sku (zones: {known})") from None


def check_quantity(quantity: int, most: int = MAX_QUANTITY, at: str = "quantity") -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= most:
        raise InvalidArgument.single(at, f"must be an integer 1..{most}")


def check_new(stock: int, zones: Sequence[str]) -> None:
    if not isinstance(stock, int) or isinstance(stock, bool) or not 0 <= stock <= MAX_GLOBAL_STOCK:
        raise InvalidArgument.single("stock", f"must be an integer 0..{MAX_GLOBAL_STOCK}")
    if not zones or len(set(zones)) != len(zones):
        raise InvalidArgument.single("zones", "one or more distinct zone names")


def bump(values: tuple[int, ...], i: int, delta: int) -> tuple[int, ...]:
    """`values` with `delta` added at index i."""
    return (*values[:i], values[i] + delta, *values[i + 1 :])
