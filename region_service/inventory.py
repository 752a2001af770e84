"""The inventory service layer of a region instance: stock, inbound, available-to-promise, and the
reservations an order's lifecycle takes, commits and releases — each in the caller's transaction.

Shell only: the decisions are consistency's pure functions (allocate_order, reserve_line, commit,
release, expire); this module reads rows, calls them and writes what they return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from consistency import inventory as inv
from consistency.allocation import AllocationMode, AllocationPolicy, Demand, Tier, serving_order, visible_atp
from consistency.backorder import BackorderMode, BackorderPolicy, status_path
from consistency.inventory import HoldState, Reservation, StockLevel, Warehouse
from consistency.order_allocation import allocate_order
from ordermesh.clock import Clock
from ordermesh.errors import (
    FieldViolation,
    IdempotencyKeyReused,
    InvalidArgument,
    NotFound,
    OrdermeshError,
    ZoneUnavailable,
)
from ordermesh.ids import parse_order_id
from ordermesh.order import REQUEST_ID, Order
from ordermesh.status import OrderStatus
from ordermesh.topology import Topology
from ordermesh.topology_inventory import InventoryPolicy
from region_service.inventory_pools import POOL, NeedsForward, PoolLines
from region_service.ports import Fence, InboundRecord, TransactionRunner, UnitOfWork

S = OrderStatus
T = TypeVar("T")
SECOND_US = 1_000_000
# Entering these statuses ships what is held; cancelling releases it.
SHIPPING = frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED})

__all__ = [
    "Allocated",
    "Availability",
    "InboundRecord",
    "InventoryBook",
    "TenantStock",
    "WarehouseAvailability",
]


@dataclass(frozen=True)
class WarehouseAvailability:
    warehouse: str
    region: str
    on_hand: int
    reserved: int
    safety_stock: int
    inbound: int  # units on their way with an ETA at or before the query time
    atp: int


@dataclass(frozen=True)
class Availability:
    sku: str
    zone: str
    at_us: int
    tier: Tier
    available_to_promise: int  # what a customer of `tier` may take now
    warehouses: tuple[WarehouseAvailability, ...]


@dataclass(frozen=True)
class TenantStock:
    """A tenant's inventory policy in consistency's terms."""

    allocation: AllocationPolicy
    backorder: BackorderPolicy
    hold_us: int

    @classmethod
    def of(cls, policy: InventoryPolicy) -> TenantStock:
        mode = BackorderMode(policy.backorder)
        threshold = policy.partial_threshold_bps if mode is BackorderMode.SHIP_PARTIAL else 0
        if AllocationMode(policy.allocation) is AllocationMode.TIER_PRIORITY:
            allocation = AllocationPolicy(
                AllocationMode.TIER_PRIORITY, policy.holdback_bps, Tier(policy.protected_tier)
            )
        else:
            allocation = AllocationPolicy()
        return cls(allocation, BackorderPolicy(mode, threshold), policy.hold_seconds * SECOND_US)


@dataclass(frozen=True)
class Allocated:
    """An order after the inventory decision, with the statuses it passed through (for audit events)."""

    order: Order
    steps: tuple[tuple[OrderStatus, Order], ...]  # (status before, order after) per transition


class InventoryBook:
    """One region's inventory operations over its zone database."""

    def __init__(
        self,
        topology: Topology,
        region: str,
        runner: TransactionRunner,
        clock: Clock,
        *,
        fence_for: Callable[[str], Fence] | None = None,
        backorder_hook: Callable[[str, str, int], int] | None = None,
    ) -> None:
        """`fence_for(tenant)`: the fence of the tenant's shard in this zone — stock writes are fenced
        like order writes, so an instance that lost its placement writes no stock either.
        `backorder_hook(tenant, sku, limit)`: re-decides backorders after stock came in (the OrderBook
        owns the fencing and audit events of order changes)."""
        self.topology = topology
        self.region = topology.region(region)
        self.zone = self.region.zone
        self.runner = runner
        self.clock = clock
        self.warehouses: dict[str, Warehouse] = {
            w.name: Warehouse(w.name, w.region, w.zone, w.capacity, w.cost)
            for w in topology.warehouses(self.zone).values()
        }
        self._policies = {
            name: TenantStock.of(t.inventory) for name, t in topology.tenants.items() if t.inventory
        }
        self.fence_for = fence_for
        self.backorder_hook = backorder_hook
        self.pool_lines: PoolLines | None = None  # multi-zone pools, when this region runs a PoolBook

    def tracks(self, tenant: str) -> bool:
        """Whether the tenant's orders reserve stock (its topology entry has an `inventory` section)."""
        return tenant in self._policies

    # -- operator and storefront calls ------------------------------------------------------------------

    def set_stock(self, tenant: str, warehouse: str, sku: str, on_hand: int, safety_stock: int) -> StockLevel:
        """Sets the counted on-hand units and the safety stock of a SKU in a warehouse of this zone.

        `reserved` is the service's own; on_hand below the units held is refused (ship or cancel
        first), so a recount can never make held units disappear."""
        self._warehouse(warehouse)
        inv.validate_level(StockLevel(sku, warehouse, on_hand, 0, safety_stock))

        def work(uow: UnitOfWork) -> StockLevel:
            now = self.clock.now_us()
            current = uow.inventory.level_rows(tenant, [(sku, warehouse)]).get((sku, warehouse))
            reserved = current.reserved if current else 0
            if on_hand < reserved:
                raise InvalidArgument.single(
                    "on_hand", f"{reserved} units are held for orders; on_hand cannot go below that"
                )
            level = StockLevel(sku, warehouse, on_hand, reserved, safety_stock)
            uow.inventory.put_level(tenant, self.zone, level, now)
            return level

        level = self.runner.run(work, fence=self._fence(tenant))
        self.allocate_backorders(tenant, sku)
        return level

    def add_inbound(
        self, tenant: str, inbound_id: str, warehouse: str, sku: str, quantity: int, eta_us: int
    ) -> InboundRecord:
        """Announces a delivery; promisable from its ETA. Idempotent by inbound_id."""
        bad: list[FieldViolation] = []
        if not isinstance(inbound_id, str) or not REQUEST_ID.match(inbound_id):
            bad.append(FieldViolation("inbound_id", "1..128 printable ASCII characters, no spaces"))
        if bad:
            raise InvalidArgument.of(bad)
        self._warehouse(warehouse)
        inv.validate_level(StockLevel(sku, warehouse, 0))
        inv.validate_inbound(inv.Inbound(sku, warehouse, quantity, eta_us))
        record = InboundRecord(inbound_id, sku, warehouse, quantity, eta_us, None)

        def work(uow: UnitOfWork) -> InboundRecord:
            now = self.clock.now_us()
            stored = uow.inventory.get_inbound(tenant, inbound_id)
            if stored is not None:
                if (stored.sku, stored.warehouse, stored.quantity, stored.eta_us) != (
                    sku,
                    warehouse,
                    quantity,
                    eta_us,
                ):
                    raise IdempotencyKeyReused(
                        f"inbound_id {inbound_id!r} was already used for a different delivery",
                        {"inbound_id": inbound_id},
                    )
                return stored
            if not uow.inventory.level_rows(tenant, [(sku, warehouse)]):  # the sku becomes known here
                uow.inventory.put_level(tenant, self.zone, StockLevel(sku, warehouse, 0), now)
            uow.inventory.add_inbound(tenant, record, now)
            return record

        stored = self.runner.run(work, fence=self._fence(tenant))
        self.allocate_backorders(tenant, sku)
        return stored

    def receive_inbound(self, tenant: str, inbound_id: str) -> StockLevel:
        """The delivery arrived: its units become on-hand stock. Idempotent."""
        if not isinstance(inbound_id, str) or not REQUEST_ID.match(inbound_id):
            raise InvalidArgument.single("inbound_id", "1..128 printable ASCII characters, no spaces")

        def work(uow: UnitOfWork) -> tuple[StockLevel, str]:
            now = self.clock.now_us()
            record = uow.inventory.get_inbound(tenant, inbound_id)
            if record is None or record.warehouse not in self.warehouses:
                raise NotFound(f"inbound delivery {inbound_id} not found in zone {self.zone}")
            key = (record.sku, record.warehouse)
            level = uow.inventory.level_rows(tenant, [key])[key]
            if record.received_us is not None:
                return level, record.sku
            level = inv.receive(level, record.inbound)
            uow.inventory.save_levels(tenant, [level], now)
            uow.inventory.mark_received(tenant, inbound_id, now)
            return level, record.sku

        level, sku = self.runner.run(work, fence=self._fence(tenant))
        self.allocate_backorders(tenant, sku)
        return level

    def availability(
        self, tenant: str, sku: str, at_us: int | None = None, tier: Tier = Tier.STANDARD
    ) -> Availability:
        """ATP of a SKU in this zone at `at_us` (default now): per warehouse, and what `tier` may take."""
        inv.validate_level(StockLevel(sku, "-", 0), at="")
        if at_us is not None and (not isinstance(at_us, int) or at_us < 0):
            raise InvalidArgument.single("at", "must be a time at or after the Unix epoch")
        when = self.clock.now_us() if at_us is None else at_us

        def read(uow: UnitOfWork) -> tuple[dict[str, StockLevel], list[InboundRecord]]:
            levels = uow.inventory.levels(tenant, self.zone, [sku]).get(sku, {})
            return levels, uow.inventory.inbound(tenant, [sku], when)

        levels, inbound = self.runner.run(read, read_only=True)
        if not levels:
            raise InvalidArgument.single("sku", f"unknown sku {sku!r} in zone {self.zone}")
        incoming = inv.arriving([r.inbound for r in inbound], sku, when)
        rows = []
        for wh, level in sorted(levels.items()):
            arriving = incoming.get(wh, 0)
            rows.append(
                WarehouseAvailability(
                    wh,
                    self.warehouses[wh].region if wh in self.warehouses else "",
                    level.on_hand,
                    level.reserved,
                    level.safety_stock,
                    arriving,
                    inv.warehouse_atp(level, arriving),
                )
            )
        atp = sum(r.atp for r in rows)
        base = sum(inv.promisable_base(lv, incoming.get(wh, 0)) for wh, lv in levels.items())
        policy = self._policies.get(tenant)
        allocation = policy.allocation if policy else AllocationPolicy()
        visible = visible_atp(allocation, Tier(tier), atp, base)
        return Availability(sku, self.zone, when, Tier(tier), visible, tuple(rows))

    def reservations(self, tenant: str, order_id: str) -> list[Reservation]:
        parts = parse_order_id(order_id)
        if parts.zone != self.zone:
            raise NotFound(f"order {order_id} not found")

        def read(uow: UnitOfWork) -> list[Reservation]:
            if uow.orders.get(tenant, order_id) is None:
                raise NotFound(f"order {order_id} not found")
            return uow.inventory.holds_of(tenant, [order_id])

        return self.runner.run(read, read_only=True)

    # -- inside an order's transaction ------------------------------------------------------------------

    def allocate_new(
        self,
        uow: UnitOfWork,
        tenant: str,
        new_orders: Sequence[Order],
        now_us: int,
        keys: Sequence[str] | None = None,
    ) -> list[Allocated | OrdermeshError]:
        """Reserves stock for new orders of one tenant in arrival order, in the caller's transaction.

        Per order: Allocated (status moved per the backorder policy, holds written) or the error that
        refuses it (unknown sku: INVALID_ARGUMENT; short under `reject`: INSUFFICIENT_INVENTORY), in
        which case nothing of that order is written. Untracked tenants pass through unchanged.
        Lines of multi-zone pool SKUs are decided by the pool's strategy (inventory_pools); `keys`
        (request ids, default the order ids) name the lines whose owner-zone grants survive retries."""
        policy = self._policies.get(tenant)
        if policy is None:
            return [Allocated(o, ()) for o in new_orders]
        skus = {line.sku for o in new_orders for line in o.lines}
        # re-allocation (backordered, on hold): the order's expired/released holds are superseded
        uow.inventory.forget_spent_holds(
            tenant, [o.order_id for o in new_orders if o.status is not S.PENDING]
        )
        keys = [o.order_id for o in new_orders] if keys is None else keys
        configs = uow.inventory.pool_configs(tenant, self.zone, skus) if self.pool_lines else {}
        if configs and self.pool_lines is not None:
            lines_of = [[(ln.sku, ln.quantity) for ln in o.lines] for o in new_orders]
            needs = self.pool_lines.needs(list(zip(keys, lines_of, strict=True)), configs)
            if needs:
                raise NeedsForward(needs)
        levels = uow.inventory.levels(tenant, self.zone, skus)
        inbound: dict[tuple[str, str], int] = {}
        for record in uow.inventory.inbound(tenant, skus, now_us):
            row = (record.sku, record.warehouse)
            inbound[row] = inbound.get(row, 0) + record.quantity
        changed: dict[tuple[str, str], StockLevel] = {}
        holds: list[Reservation] = []
        out: list[Allocated | OrdermeshError] = []
        for key, order in zip(keys, new_orders, strict=True):
            try:
                result = self._allocate(uow, key, order, policy, levels, inbound, configs, now_us)
            except OrdermeshError as err:
                out.append(err)
                continue
            allocated, new_levels, new_holds = result
            for level in new_levels:
                levels[level.sku][level.warehouse] = level
                changed[(level.sku, level.warehouse)] = level
            holds += new_holds
            out.append(allocated)
        uow.inventory.save_levels(tenant, changed.values(), now_us)
        uow.inventory.add_holds(tenant, holds, now_us)
        return out

    def _allocate(
        self,
        uow: UnitOfWork,
        key: str,
        order: Order,
        policy: TenantStock,
        levels: dict[str, dict[str, StockLevel]],
        inbound: dict[tuple[str, str], int],
        configs: dict[str, tuple[str, str]],
        now_us: int,
    ) -> tuple[Allocated, list[StockLevel], list[Reservation]]:
        lines = [(line.sku, line.quantity) for line in order.lines]
        inv.validate_lines(lines, {sku for sku, by_wh in levels.items() if by_wh} | set(configs))
        fixed: dict[int, int] = {}
        granted: list[tuple[int, str, int]] = []
        if configs and self.pool_lines is not None:
            fixed, granted = self.pool_lines.decide(uow, order.tenant, key, lines, configs, now_us)
        plan = allocate_order(
            lines,
            Tier(order.customer.tier),
            self.zone,
            self.region.name,
            self.warehouses,
            levels,
            inbound,
            policy.allocation,
            policy.backorder,
            order.status,
            fixed=fixed,
        )
        holds: list[Reservation] = []
        if self.pool_lines is not None and fixed:
            held = plan.decision.hold
            self.pool_lines.settle(uow, order.tenant, key, granted, fixed, held, configs, now_us)
            holds += self.pool_lines.holds(order.order_id, lines, fixed, held, now_us + policy.hold_us)
        if plan.decision.error is not None:
            raise plan.decision.error
        touched: dict[tuple[str, str], StockLevel] = {}  # this order's changes, kept apart until it is done
        for line_no, picks in enumerate(plan.picks):
            if not picks:
                continue
            sku = lines[line_no][0]
            current = {p.warehouse: touched.get((sku, p.warehouse), levels[sku][p.warehouse]) for p in picks}
            units = {wh: inbound.get((sku, wh), 0) for wh in current}
            wanted = [(p.warehouse, p.quantity) for p in picks]
            changed, line_holds = inv.reserve_line(
                current, (), order.order_id, line_no, wanted, now_us, policy.hold_us, units
            )
            touched.update({(sku, wh): lv for wh, lv in changed.items()})
            holds += line_holds
        steps: list[tuple[OrderStatus, Order]] = []
        after = order
        for status in status_path(order.status, plan.decision.target or order.status):
            previous = after.status
            after = after.change_status(status, now_us)
            steps.append((previous, after))
        return Allocated(after, tuple(steps)), list(touched.values()), holds

    def on_status_change(
        self, uow: UnitOfWork, tenant: str, before: Order, after: Order, now_us: int
    ) -> None:
        """Ships held units when an order ships, frees them when it is cancelled (same transaction)."""
        if tenant not in self._policies:
            return
        if after.status in SHIPPING:  # an expired hold refuses to ship (InvalidTransition)
            self._settle(
                uow, tenant, before.order_id, inv.commit, now_us, {HoldState.HELD, HoldState.EXPIRED}
            )
        elif after.status is S.CANCELLED:
            self._settle(uow, tenant, before.order_id, inv.release, now_us, {HoldState.HELD})

    def _settle(
        self,
        uow: UnitOfWork,
        tenant: str,
        order_id: str,
        step: Callable[[StockLevel, Reservation], tuple[StockLevel, Reservation]],
        now_us: int,
        states: set[HoldState],
    ) -> None:
        holds = [h for h in uow.inventory.holds_of(tenant, [order_id]) if h.state in states]
        self._move(uow, tenant, holds, step, now_us)

    def _move(
        self,
        uow: UnitOfWork,
        tenant: str,
        holds: Sequence[Reservation],
        step: Callable[[StockLevel, Reservation], tuple[StockLevel, Reservation]],
        now_us: int,
    ) -> list[Reservation]:
        """Applies one hold transition (commit, release, expire) to warehouse and pool holds alike."""
        if not holds:
            return []
        stocked = [h for h in holds if h.warehouse != POOL]
        levels = uow.inventory.level_rows(tenant, {(h.sku, h.warehouse) for h in stocked})
        pooled = [h for h in holds if h.warehouse == POOL]
        configs = uow.inventory.pool_configs(tenant, self.zone, {h.sku for h in pooled}) if pooled else {}
        op = "commit" if step is inv.commit else "release"
        moved: list[Reservation] = []
        for hold in holds:
            if hold.warehouse == POOL:  # the pool keeps the count: the same checks on a stand-in row
                _, after = step(StockLevel(hold.sku, POOL, hold.quantity, hold.quantity), hold)
                if after.state is not hold.state:
                    if self.pool_lines is None:
                        raise ZoneUnavailable(f"{hold.sku}: this region has no pool service configured")
                    self.pool_lines.finish(uow, tenant, hold, op, configs, now_us)
            else:
                key = (hold.sku, hold.warehouse)
                levels[key], after = step(levels[key], hold)
            moved.append(after)
        uow.inventory.save_levels(tenant, levels.values(), now_us)
        uow.inventory.save_hold_states(tenant, moved, now_us)
        return moved

    # -- background ------------------------------------------------------------------------------------

    def expire_due(self, uow: UnitOfWork, tenant: str, now_us: int, limit: int) -> list[Reservation]:
        """Expires the tenant's held reservations past their TTL, in the caller's transaction: the units
        become free again. Returns what it expired (OrderBook.reap_holds moves the orders)."""
        holds = [d.hold for d in uow.inventory.due_holds(now_us, limit, tenant)]
        return self._move(uow, tenant, holds, lambda level, hold: inv.expire(level, hold, now_us), now_us)

    def run_pools(self, tenant: str, attempt: Callable[[], T]) -> T:
        """Runs one transaction that may touch pool lines (see inventory_pools.PoolLines.run)."""
        if self.pool_lines is None or tenant not in self._policies:
            return attempt()
        return self.pool_lines.run(tenant, attempt)

    def allocate_backorders(self, tenant: str, sku: str, limit: int = 200) -> int:
        """Re-runs the decision for the tenant's backordered orders of `sku` after stock came in (by the
        backorder hook; a book without one leaves backorders for the next stock change)."""
        hook = self.backorder_hook
        return hook(tenant, sku, limit) if hook is not None and tenant in self._policies else 0

    def _fence(self, tenant: str) -> Fence | None:
        return self.fence_for(tenant) if self.fence_for is not None else None

    def serving_order(self, waiting: Sequence[Order]) -> list[Order]:
        """Backorders in the order stock goes to them: arrival order, highest tier first under tier
        priority (consistency.allocation.serving_order, one demand per order)."""
        if not waiting:
            return []
        policy = self._policies.get(waiting[0].tenant)
        mode = policy.allocation if policy else AllocationPolicy()
        demands = [Demand(o.order_id, 0, Tier(o.customer.tier), 1, o.create_time_us) for o in waiting]
        by_id = {o.order_id: o for o in waiting}
        return [by_id[d.order_id] for d in serving_order(mode, demands)]

    def policy(self, tenant: str) -> TenantStock | None:
        return self._policies.get(tenant)

    def _warehouse(self, warehouse: str) -> Warehouse:
        found = self.warehouses.get(warehouse) if isinstance(warehouse, str) else None
        if found is None:
            known = ", ".join(sorted(self.warehouses)) or "none"
            raise InvalidArgument.single(
                "warehouse", f"{warehouse!r} is not a warehouse of zone {self.zone} (known: {known})"
            )
        return found
