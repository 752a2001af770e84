"""The storage contract the order service layer is written against (SQL backends implement it)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from consistency.inventory import Inbound, Reservation, StockLevel
from ordermesh.audit import OrderEvent, SealedEvent
from ordermesh.order import Order
from ordermesh.shard import ShardKey
from ordermesh.status import OrderStatus

T = TypeVar("T")


@dataclass(frozen=True)
class ListQuery:
    """Keyset page of one tenant's orders in one zone, newest first ((create_time_us, order_id) desc)."""

    tenant: str
    zone: str
    limit: int
    statuses: frozenset[OrderStatus] = frozenset()
    created_after_us: int | None = None  # inclusive
    created_before_us: int | None = None  # exclusive
    after: tuple[int, str] | None = None  # (create_time_us, order_id) of the last row of the previous page


@dataclass(frozen=True)
class StoredResponse:
    """What an idempotency key remembers: which request it was, and the answer given."""

    fingerprint: str
    payload: bytes


class OrderRepository(Protocol):
    def add(self, order: Order) -> None: ...

    def get(self, tenant: str, order_id: str) -> Order | None:
        """None for unknown ids and for other tenants' orders alike."""
        ...

    def save_status(self, order: Order, previous_version: int) -> None:
        """Writes status/version/update_time; raises StaleVersion if the row is not at previous_version."""
        ...

    def list(self, query: ListQuery) -> Sequence[Order]: ...


class EventLog(Protocol):
    def append(self, event: OrderEvent) -> None:
        """Adds an unsealed event (no chain position yet) in the caller's transaction."""
        ...

    def read(
        self, shard: ShardKey, after_sequence: int, limit: int, order_id: str | None = None
    ) -> Sequence[SealedEvent]:
        """Sealed events of a shard with sequence > after_sequence, in chain order."""
        ...


class IdempotencyStore(Protocol):
    def lookup(self, tenant: str, method: str, request_id: str) -> StoredResponse | None: ...

    def save(
        self,
        tenant: str,
        method: str,
        request_id: str,
        response: StoredResponse,
        now_us: int,
        expires_us: int,
    ) -> None: ...

    def claim(
        self,
        tenant: str,
        method: str,
        request_id: str,
        response: StoredResponse,
        now_us: int,
        expires_us: int,
    ) -> bool:
        """Stores the key unless it already exists (never reads it first); True when stored."""
        ...


class NewOrderBatch(Protocol):
    """Group commit's writes: many new orders of one shard in a few multi-row statements."""

    def claim_keys(
        self,
        tenant: str,
        method: str,
        entries: Sequence[tuple[str, StoredResponse]],
        now_us: int,
        expires_us: int,
    ) -> set[str]:
        """Stores the keys that do not exist yet (no read first); returns the request_ids stored."""
        ...

    def unclaim_keys(self, tenant: str, method: str, request_ids: Collection[str]) -> None:
        """Drops keys claimed earlier in this transaction for requests refused after all."""
        ...

    def restate_keys(self, tenant: str, method: str, payloads: Mapping[str, bytes]) -> None:
        """Replaces the stored answers of keys claimed earlier in this transaction."""
        ...

    def add_orders(self, new_orders: Sequence[Order], events: Sequence[OrderEvent]) -> None: ...

    def write(
        self,
        fence: Fence,
        method: str,
        entries: Sequence[tuple[str, StoredResponse]],
        new_orders: Sequence[Order],
        events: Sequence[OrderEvent],
        now_us: int,
        expires_us: int,
    ) -> set[str]:
        """All of a batch: raises Fenced unless the shard's epoch is fence.epoch; claims the keys that
        are new; writes entries[i]'s order and event (new_orders[i], events[i]) only if its key was
        claimed here. Returns the request_ids claimed. It is the transaction's last statement: a
        store may commit it as a transaction of its own when it is also the first."""
        ...


@dataclass(frozen=True)
class InboundRecord:
    """An inbound delivery as stored: `received_us` is None while it is on its way."""

    inbound_id: str
    sku: str
    warehouse: str
    quantity: int
    eta_us: int
    received_us: int | None

    @property
    def inbound(self) -> Inbound:
        return Inbound(self.sku, self.warehouse, self.quantity, self.eta_us)


@dataclass(frozen=True)
class DueHold:
    tenant: str
    hold: Reservation


class InventoryStore(Protocol):
    """Stock levels, inbound deliveries and reservations of the zone database (tenant-scoped)."""

    def levels(self, tenant: str, zone: str, skus: Collection[str]) -> dict[str, dict[str, StockLevel]]: ...

    def put_level(self, tenant: str, zone: str, level: StockLevel, now_us: int) -> None: ...

    def save_levels(self, tenant: str, levels: Iterable[StockLevel], now_us: int) -> None: ...

    def level_rows(
        self, tenant: str, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], StockLevel]: ...

    def inbound(
        self, tenant: str, skus: Collection[str], by_us: int | None = None
    ) -> list[InboundRecord]: ...

    def get_inbound(self, tenant: str, inbound_id: str) -> InboundRecord | None: ...

    def add_inbound(self, tenant: str, record: InboundRecord, now_us: int) -> None: ...

    def mark_received(self, tenant: str, inbound_id: str, now_us: int) -> None: ...

    def holds_of(self, tenant: str, order_ids: Collection[str]) -> list[Reservation]: ...

    def add_holds(self, tenant: str, holds: Sequence[Reservation], now_us: int) -> None: ...

    def save_hold_states(self, tenant: str, holds: Sequence[Reservation], now_us: int) -> None: ...

    def due_holds(self, now_us: int, limit: int, tenant: str | None = None) -> list[DueHold]: ...

    def forget_spent_holds(self, tenant: str, order_ids: Collection[str]) -> None: ...

    def backordered(self, tenant: str, zone: str, sku: str, limit: int) -> list[str]: ...

    def pool_configs(self, tenant: str, zone: str, skus: Collection[str]) -> dict[str, tuple[str, str]]: ...

    def totals(self, tenant: str, sku: str) -> tuple[int, int]: ...


class ShardEpochs(Protocol):
    def current(self, shard: ShardKey) -> int:
        """The shard's epoch in the zone database (0 when it was never placed)."""
        ...


class UnitOfWork(Protocol):
    orders: OrderRepository
    events: EventLog
    idempotency: IdempotencyStore
    epochs: ShardEpochs
    batch: NewOrderBatch
    inventory: InventoryStore


@dataclass(frozen=True)
class Fence:
    """The epoch this instance holds for the shard it is about to write; checked inside the transaction."""

    shard: ShardKey
    epoch: int


class TransactionRunner(Protocol):
    def run(
        self, work: Callable[[UnitOfWork], T], *, fence: Fence | None = None, read_only: bool = False
    ) -> T:
        """Runs work in one SERIALIZABLE transaction and commits it; re-runs the WHOLE transaction on
        serialization failures (40001, also at COMMIT) with bounded jittered backoff, then raises
        Contention. With a fence, first checks the shard's epoch == fence.epoch, else raises Fenced."""
        ...
