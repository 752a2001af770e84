"""The order service layer of a region instance: validate, decide residency, then one fenced transaction.

Plain data in, domain objects or stored response payloads out; no gRPC, no SQL. Every write runs in
one transaction that checks the shard's fencing epoch, writes the change, appends its audit event
and remembers the idempotency key with the answer, so a retry replays and a zombie writes nothing.
Page tokens and event cursors are opaque to callers (see region_service.tokens).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial

from consistency.inventory import HoldState, Reservation
from ordermesh.audit import EventType, OrderEvent, SealedEvent
from ordermesh.clock import Clock
from ordermesh.errors import (
    Contention,
    Fenced,
    FieldViolation,
    IdempotencyKeyReused,
    InsufficientInventory,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    ResidencyViolation,
    StaleVersion,
)
from ordermesh.ids import TokenSource, parse_order_id
from ordermesh.order import Order, OrderDraft, validate_draft, validate_reason, validate_request_id
from ordermesh.residency import zone_of_order
from ordermesh.shard import ShardKey
from ordermesh.status import OrderStatus, can_transition
from ordermesh.topology import Topology
from region_service.create_batch import NewOrder, Render, write_creates
from region_service.group_commit import GroupCommit
from region_service.inventory import Allocated, InventoryBook
from region_service.placement import PlacementView, StaticPlacement
from region_service.ports import Fence, ListQuery, StoredResponse, TransactionRunner, UnitOfWork
from region_service.tokens import EventCursor, PageToken, filter_hash

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_ETAG = 64
DAY_US = 24 * 3600 * 1_000_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant resolved from the API key, and a short fingerprint of that key."""

    tenant: str
    key_id: str

    @property
    def actor(self) -> str:
        return f"{self.tenant}:{self.key_id}"


@dataclass(frozen=True)
class Reply:
    """A mutation's answer: the serialized response, and whether it was replayed from the key."""

    payload: bytes
    replayed: bool


@dataclass(frozen=True)
class Page:
    orders: Sequence[Order]
    next_page_token: str


@dataclass(frozen=True)
class StatusChange:
    """What UpdateOrderStatus / CancelOrder ask for (target None means "cancel")."""

    order_id: str
    target: OrderStatus | None
    expected_version: int = 0
    etag: str = ""
    reason: str = ""


def _collect(checks: Sequence[Callable[[], object]]) -> None:
    """Runs every check and raises one InvalidArgument with all their violations."""
    bad: list[FieldViolation] = []
    for check in checks:
        try:
            check()
        except InvalidArgument as exc:
            bad.extend(exc.violations)
    if bad:
        raise InvalidArgument.of(bad)


class OrderBook:
    """The orders of one region instance's zone, for every tenant that may use that zone."""

    def __init__(
        self,
        topology: Topology,
        region: str,
        runner: TransactionRunner,
        clock: Clock,
        *,
        token_bytes: TokenSource = secrets.token_bytes,
        placement: PlacementView | None = None,
        idempotency_retention_us: int = DAY_US,
        seal_pending: Callable[[ShardKey], object] | None = None,
    ) -> None:
        self.topology = topology
        self.region = topology.region(region)
        self.zone = self.region.zone
        self.runner = runner
        self.clock = clock
        self.token_bytes = token_bytes
        self.placement = placement or StaticPlacement()
        self.retention_us = idempotency_retention_us
        self.seal_pending = seal_pending
        self._creates: GroupCommit[NewOrder, Reply] = GroupCommit(partial(write_creates, self))
        self.inventory = InventoryBook(
            topology,
            region,
            runner,
            clock,
            fence_for=lambda tenant: self._fence(self.topology.shard(tenant, self.zone)),
            backorder_hook=self.allocate_backorders,
        )

    # -- writes -------------------------------------------------------------------------------------

    def create(
        self, who: Principal, request_id: str, fingerprint: str, draft: OrderDraft, render: Render
    ) -> Reply:
        return self._creates.submit(*self.admit_create(who, request_id, fingerprint, draft, render))

    def admit_create(
        self, who: Principal, request_id: str, fingerprint: str, draft: OrderDraft, render: Render
    ) -> tuple[ShardKey, NewOrder]:
        """Validates a CreateOrder and decides its shard (no I/O): what a batch writer then writes."""
        _collect([lambda: validate_request_id(request_id), lambda: validate_draft(draft)])
        decision = zone_of_order(self.topology, who.tenant, draft.customer.country)
        if decision.zone != self.zone:
            raise ResidencyViolation(
                f"orders of customers in {decision.country} belong to zone {decision.zone}; "
                f"region {self.region.name} serves zone {self.zone} only",
                {"country": decision.country, "zone": decision.zone, "region": self.region.name},
            )
        item = NewOrder(who, request_id, fingerprint, draft, render)
        return self.topology.shard(who.tenant, self.zone), item

    def write_creates(self, shard: Hashable, items: Sequence[NewOrder]) -> list[Reply | Exception]:
        """One fenced transaction for admitted CreateOrders of one shard (see create_batch)."""
        return write_creates(self, shard, items)

    def change_status(
        self, who: Principal, request_id: str, fingerprint: str, change: StatusChange, render: Render
    ) -> Reply:
        method = "CancelOrder" if change.target is None else "UpdateOrderStatus"
        checks: list[Callable[[], object]] = [
            lambda: validate_request_id(request_id),
            lambda: parse_order_id(change.order_id),
            lambda: validate_reason(change.reason),
        ]
        if change.expected_version < 0:
            checks.append(lambda: _bad("expected_version", "must be >= 0 (0 means no check)"))
        if len(change.etag) > MAX_ETAG:
            checks.append(lambda: _bad("etag", f"at most {MAX_ETAG} characters"))
        _collect(checks)
        shard = self._shard_of(who, change.order_id)

        def build(uow: UnitOfWork, now: int) -> bytes:
            current = uow.orders.get(who.tenant, change.order_id)
            if current is None:
                raise NotFound(f"order {change.order_id} not found")
            current.check_version(change.expected_version, change.etag)
            if change.target is OrderStatus.ALLOCATED and self.inventory.tracks(who.tenant):
                return self._allocate_now(uow, shard, who, current, change.reason, now, render)
            if change.target is None:
                updated, kind = current.cancel(now), EventType.CANCELLED
            else:
                updated, kind = current.change_status(change.target, now), EventType.STATUS_CHANGED
            self.inventory.on_status_change(uow, who.tenant, current, updated, now)
            uow.orders.save_status(updated, current.version)
            uow.events.append(self._event(shard, updated, kind, current.status, who, change.reason, now))
            return render(updated)

        return self._mutate(who, method, request_id, fingerprint, shard, build)

    def _allocate_now(
        self,
        uow: UnitOfWork,
        shard: ShardKey,
        who: Principal,
        current: Order,
        reason: str,
        now: int,
        render: Render,
    ) -> bytes:
        """UpdateOrderStatus(ALLOCATED) of a stock-tracking tenant: allocation is the inventory's
        decision, so the order is allocated only if its stock can be held now (then it is)."""
        if not can_transition(current.status, OrderStatus.ALLOCATED):
            current.change_status(OrderStatus.ALLOCATED, now)  # raises the InvalidTransition
        result = self.inventory.allocate_new(uow, who.tenant, [current], now)[0]
        if isinstance(result, Exception):
            raise result
        if result.order.status is not OrderStatus.ALLOCATED:
            raise InsufficientInventory(
                f"order {current.order_id} cannot be allocated: not enough stock to hold now",
                {"order_id": current.order_id, "status": current.status.value},
            )
        uow.orders.save_status(result.order, current.version)
        for event in self._step_events(shard, result, who, reason, now):
            uow.events.append(event)
        return render(result.order)

    def _step_events(
        self, shard: ShardKey, result: Allocated, who: Principal, reason: str, now: int
    ) -> list[OrderEvent]:
        """One STATUS_CHANGED audit event per status an inventory decision moved the order through."""
        kind = EventType.STATUS_CHANGED
        return [self._event(shard, step, kind, before, who, reason, now) for before, step in result.steps]

    def allocate_backorders(self, tenant: str, sku: str, limit: int = 200) -> int:
        """Stock came in: re-decide the tenant's backordered orders of `sku` in this zone, oldest
        first (tier priority: highest tier first), each allocated order moving to ALLOCATED with
        its holds and audit event, in one fenced transaction. Returns how many were allocated."""
        if not self.inventory.tracks(tenant) or tenant not in self.topology.tenants:
            return 0
        shard = self.topology.shard(tenant, self.zone)
        who = Principal(tenant, "inventory")

        def work(uow: UnitOfWork) -> int:
            now = self.clock.now_us()
            waiting = [
                uow.orders.get(tenant, oid)
                for oid in uow.inventory.backordered(tenant, self.zone, sku, limit)
            ]
            queue = self.inventory.serving_order([o for o in waiting if o is not None])
            done = 0
            for result in self.inventory.allocate_new(uow, tenant, queue, now):
                if isinstance(result, Exception) or not result.steps:
                    continue
                previous = result.steps[0][0]
                uow.orders.save_status(result.order, result.order.version - len(result.steps))
                for event in self._step_events(shard, result, who, "stock arrived", now):
                    uow.events.append(event)
                done += previous is OrderStatus.BACKORDERED
            return done

        fence = self._fence(shard)
        return self.inventory.run_pools(tenant, lambda: self.runner.run(work, fence=fence))

    def reap_holds(self, limit: int = 500) -> list[Reservation]:
        """The reaper: expires holds past their TTL, tenant by tenant in fenced transactions; an
        ALLOCATED order left with no held units goes ON_HOLD ("stock hold expired"), from where the
        storefront cancels it or sends it back to BACKORDERED to wait for stock again."""
        done: list[Reservation] = []
        for tenant in sorted(self.topology.tenants):
            if not self.inventory.tracks(tenant) or self.zone not in self.topology.tenants[tenant].zones:
                continue
            shard = self.topology.shard(tenant, self.zone)
            try:
                reap = partial(
                    self.runner.run, partial(self._reap_tenant, shard, limit), fence=self._fence(shard)
                )
                done += self.inventory.run_pools(tenant, reap)
            except Fenced:  # another instance is this shard's home: its reaper does it
                continue
        return done

    def _reap_tenant(self, shard: ShardKey, limit: int, uow: UnitOfWork) -> list[Reservation]:
        now = self.clock.now_us()
        expired = self.inventory.expire_due(uow, shard.tenant, now, limit)
        who = Principal(shard.tenant, "reaper")
        for order_id in sorted({h.order_id for h in expired}):
            order = uow.orders.get(shard.tenant, order_id)
            if order is None or order.status is not OrderStatus.ALLOCATED:
                continue
            if any(h.state is HoldState.HELD for h in uow.inventory.holds_of(shard.tenant, [order_id])):
                continue
            held = order.change_status(OrderStatus.ON_HOLD, now)
            uow.orders.save_status(held, order.version)
            reason = "stock hold expired"
            uow.events.append(
                self._event(shard, held, EventType.STATUS_CHANGED, order.status, who, reason, now)
            )
        return expired

    # -- reads --------------------------------------------------------------------------------------

    def get(self, who: Principal, order_id: str) -> Order:
        parse_order_id(order_id)
        self._shard_of(who, order_id)
        order = self.runner.run(lambda uow: uow.orders.get(who.tenant, order_id), read_only=True)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        return order

    def list(
        self,
        who: Principal,
        *,
        zone: str = "",
        page_size: int = 0,
        page_token: str = "",
        statuses: frozenset[OrderStatus] = frozenset(),
        created_after_us: int | None = None,
        created_before_us: int | None = None,
    ) -> Page:
        """Newest first. A zone other than this instance's is INVALID_ARGUMENT: a region serves its
        own zone only (routers send each zone's listing to that zone's regions)."""
        zone = self._own_zone(zone)
        if page_size < 0:
            raise InvalidArgument.single("page_size", "must be >= 0 (0 means the default, 50)")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        digest = filter_hash(who.tenant, zone, statuses, created_after_us, created_before_us)
        after = PageToken.decode(page_token, digest).after if page_token else None
        query = ListQuery(who.tenant, zone, size + 1, statuses, created_after_us, created_before_us, after)
        rows = list(self.runner.run(lambda uow: uow.orders.list(query), read_only=True))
        if len(rows) <= size:
            return Page(rows, "")
        last = rows[size - 1]
        return Page(rows[:size], PageToken((last.create_time_us, last.order_id), digest).encode())

    def events(
        self, who: Principal, *, zone: str = "", cursor: str = "", order_id: str = "", limit: int = 200
    ) -> tuple[ShardKey, int, Sequence[SealedEvent]]:
        """Sealed events of the caller's shard in `zone` after the cursor: (shard, after, events)."""
        zone = self._own_zone(zone)
        shard = self.topology.shard(who.tenant, zone)
        after = EventCursor.decode(cursor, shard).sequence if cursor else 0
        if order_id:
            parse_order_id(order_id)
            self._shard_of(who, order_id)
        return shard, after, self.read_events(shard, after, order_id, limit)

    def read_events(self, shard: ShardKey, after: int, order_id: str, limit: int) -> Sequence[SealedEvent]:
        """Seals what is pending (so a watcher sees fresh writes), then reads one page."""
        if self.seal_pending is not None:
            self.seal_pending(shard)
        return self.runner.run(
            lambda uow: uow.events.read(shard, after, limit, order_id or None), read_only=True
        )

    # -- internals ----------------------------------------------------------------------------------

    def _own_zone(self, zone: str) -> str:
        if zone and zone != self.zone:
            raise InvalidArgument.single("zone", f"this region serves zone {self.zone} only")
        return self.zone

    def _shard_of(self, who: Principal, order_id: str) -> ShardKey:
        """The caller's shard that must hold this (well-formed) id; any other shard is NOT_FOUND."""
        parts = parse_order_id(order_id)
        shard = self.topology.shard(who.tenant, self.zone)
        if parts.zone != self.zone or parts.bucket != shard.bucket:
            raise NotFound(f"order {order_id} not found")
        return shard

    def _fence(self, shard: ShardKey) -> Fence:
        return Fence(shard, self.placement.held_epoch(shard))

    def _mutate(
        self,
        who: Principal,
        method: str,
        request_id: str,
        fingerprint: str,
        shard: ShardKey,
        build: Callable[[UnitOfWork, int], bytes],
    ) -> Reply:
        """Applies a change and claims its request_id in ONE fenced transaction.

        Optimistic: the key is not looked up first (under SSI that read makes concurrent creates
        abort each other). Only when the claim finds the key taken, or the change is refused (a
        retry of a change that already happened meets a moved order), is the key looked up: a
        stored answer to the same request is replayed, to another request is IDEMPOTENCY_KEY_REUSED;
        the refused transaction rolled back, so nothing is applied twice.
        """

        def work(uow: UnitOfWork) -> Reply:
            now = self.clock.now_us()
            payload = build(uow, now)
            stored = StoredResponse(fingerprint, payload)
            if not uow.idempotency.claim(
                who.tenant, method, request_id, stored, now, now + self.retention_us
            ):
                raise _KeyTaken(method)
            return Reply(payload, replayed=False)

        try:
            fence = self._fence(shard)
            return self.inventory.run_pools(who.tenant, lambda: self.runner.run(work, fence=fence))
        except (_KeyTaken, NotFound, StaleVersion, InvalidTransition) as refused:
            answer = self._stored_answer(who, method, request_id, fingerprint)
            if answer is not None:
                return answer
            if isinstance(refused, _KeyTaken):  # claimed, then purged in between: a fresh retry works
                raise purged(request_id) from None
            raise

    def _stored_answer(self, who: Principal, method: str, request_id: str, fingerprint: str) -> Reply | None:
        """The answer stored under this request_id: replayed for the same request, refused for another;
        None when nothing is stored."""
        stored = self.runner.run(
            lambda uow: uow.idempotency.lookup(who.tenant, method, request_id), read_only=True
        )
        if stored is None:
            return None
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"request_id {request_id!r} was already used for a different {method} request",
                {"request_id": request_id[:128], "method": method},
            )
        return Reply(stored.payload, replayed=True)

    def _event(
        self,
        shard: ShardKey,
        order: Order,
        kind: EventType,
        previous: OrderStatus | None,
        who: Principal,
        reason: str,
        now: int,
    ) -> OrderEvent:
        event_id = self.token_bytes(16).hex()
        return OrderEvent(
            event_id,
            shard,
            order.order_id,
            order.version,
            kind,
            previous,
            order.status,
            who.actor,
            reason,
            now,
        )


def purged(request_id: str) -> Contention:
    """A key seen taken was gone when read (purged in between): a fresh retry is safe."""
    return Contention(f"request_id {request_id!r} changed state during the call; retry")


class _KeyTaken(Exception):
    """The request_id is already stored: roll back this attempt and replay what is stored."""


def _bad(field_path: str, description: str) -> None:
    raise InvalidArgument.single(field_path, description)
