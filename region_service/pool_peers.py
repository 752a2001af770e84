"""How one zone's PoolBook reaches the others (`PoolPeers`), and what a cross-zone read reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from consistency.pool_slices import PoolSlice
from consistency.zone_stock import Summary
from ordermesh.errors import InvalidArgument

if TYPE_CHECKING:
    from region_service.pools import PoolBook


class PoolPeers(Protocol):
    """The PoolBooks of every zone (this one included): in one process, or clients of other regions."""

    def book(self, zone: str) -> PoolBook: ...


class DirectPeers:
    """Zone -> PoolBook in this process; each book still has its own zone database, so a cross-zone
    call is a real call into another database (tests, the benchmark, the embedded demo)."""

    def __init__(self, books: Mapping[str, PoolBook] | None = None) -> None:
        self._books = dict(books or {})

    def add(self, book: PoolBook) -> None:
        self._books[book.zone] = book

    def book(self, zone: str) -> PoolBook:
        try:
            return self._books[zone]
        except KeyError:
            raise InvalidArgument.single("zone", f"no pool book for zone {zone!r}") from None


@dataclass(frozen=True, slots=True)
class PoolReport:
    """A pool across its zones: the strategy's Summary, escrow quota in transit, and the balance check.
    Read zone by zone, so it is exact only while no call is in flight."""

    summary: Summary
    in_transit: int
    conserved: bool
    slices: tuple[PoolSlice, ...]
