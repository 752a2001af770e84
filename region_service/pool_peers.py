"""How one zone's PoolBook reaches the others (`PoolPeers`), and what a cross-zone read reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from consistency.escrow_stock import Rebalance
from consistency.eventual_stock import Gossip
from consistency.pool_slices import PoolSlice
from consistency.zone_stock import Outcome, Summary
from ordermesh.errors import InvalidArgument
from region_service.storage.pools import Transfer, TransferState

if TYPE_CHECKING:
    from region_service.pools import PoolBook


class PeerEscrow(Protocol):
    """A zone's fenced escrow writes, as the lock holder of a rebalance calls them (pool_rebalance.py)."""

    def send(self, tenant: str, sku: str, move: Rebalance, holder: str, token: int) -> Transfer | None: ...
    def receive(self, transfer: Transfer, holder: str, token: int) -> bool: ...
    def finish(self, transfer: Transfer, holder: str, token: int) -> bool: ...
    def acquire_lease(self, name: str, holder: str, token: int) -> None: ...
    def release_lease(self, name: str, holder: str, token: int) -> None: ...


class PeerBook(Protocol):
    """What one zone uses of another zone's PoolBook: a PoolBook itself (same process), or a client of
    that zone's regions (region_service.grpc_pool_peers)."""

    @property
    def zone(self) -> str: ...
    @property
    def escrow(self) -> PeerEscrow: ...
    def slice(self, tenant: str, sku: str) -> PoolSlice: ...
    def transfers(self, tenant: str, sku: str, state: TransferState | None = None) -> list[Transfer]: ...
    def reserve(self, tenant: str, sku: str, quantity: int) -> Outcome: ...
    def release(self, tenant: str, sku: str, quantity: int) -> Outcome: ...
    def commit(self, tenant: str, sku: str, quantity: int) -> Outcome: ...
    def gossip_message(self, tenant: str, sku: str) -> Gossip: ...
    def merge_gossip(self, tenant: str, sku: str, message: Gossip) -> None: ...


class PoolPeers(Protocol):
    """The pool books of every zone (this one included): in one process, or clients of other regions."""

    def book(self, zone: str) -> PeerBook: ...


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
