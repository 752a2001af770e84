"""SQL storage of stock levels, inbound stock and reservations (ports.InventoryStore), in the caller's
transaction. Reads and writes plain consistency values; the arithmetic is consistency.inventory's."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, func, insert, select, tuple_, update

from consistency.inventory import HoldState, Reservation, StockLevel
from ordermesh.status import OrderStatus
from region_service.ports import DueHold, InboundRecord
from region_service.storage.schema import (
    inbound_stock,
    order_lines,
    orders,
    reservations,
    stock_levels,
)


def _level(row: Row[Any]) -> StockLevel:
    return StockLevel(row.sku, row.warehouse, row.on_hand, row.reserved, row.safety_stock)


def _hold(row: Row[Any]) -> Reservation:
    return Reservation(
        row.reservation_id,
        row.order_id,
        row.line_no,
        row.sku,
        row.warehouse,
        row.quantity,
        HoldState(row.state),
        row.expires_us,
    )


def _record(row: Row[Any]) -> InboundRecord:
    return InboundRecord(row.inbound_id, row.sku, row.warehouse, row.quantity, row.eta_us, row.received_us)


class SqlInventoryStore:
    """One transaction's view of a zone database's inventory tables, always filtered by tenant."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    # -- stock levels --------------------------------------------------------------------------------

    def levels(self, tenant: str, zone: str, skus: Collection[str]) -> dict[str, dict[str, StockLevel]]:
        """levels[sku][warehouse] for the zone's warehouses stocking each sku (one query)."""
        out: dict[str, dict[str, StockLevel]] = {}
        if not skus:
            return out
        t = stock_levels.c
        query = select(stock_levels).where(t.tenant == tenant, t.zone == zone, t.sku.in_(sorted(skus)))
        for row in self._conn.execute(query):
            out.setdefault(row.sku, {})[row.warehouse] = _level(row)
        return out

    def put_level(self, tenant: str, zone: str, level: StockLevel, now_us: int) -> None:
        """Inserts or overwrites a row (on_hand, reserved, safety_stock as given)."""
        t = stock_levels.c
        values = {
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "safety_stock": level.safety_stock,
            "updated_us": now_us,
        }
        changed = self._conn.execute(
            update(stock_levels)
            .where(t.tenant == tenant, t.sku == level.sku, t.warehouse == level.warehouse)
            .values(**values)
        ).rowcount
        if not changed:
            self._conn.execute(
                insert(stock_levels).values(
                    tenant=tenant, sku=level.sku, warehouse=level.warehouse, zone=zone, **values
                )
            )

    def save_levels(self, tenant: str, levels: Iterable[StockLevel], now_us: int) -> None:
        """Writes the on_hand/reserved of rows read in this transaction (SERIALIZABLE makes the
        read-modify-write safe: a concurrent change of the same row aborts one of the two)."""
        rows = [
            {"b_sku": lv.sku, "b_wh": lv.warehouse, "on_hand": lv.on_hand, "reserved": lv.reserved}
            for lv in levels
        ]
        if not rows:
            return
        t = stock_levels.c
        stmt = (
            update(stock_levels)
            .where(t.tenant == tenant, t.sku == bindparam("b_sku"), t.warehouse == bindparam("b_wh"))
            .values(on_hand=bindparam("on_hand"), reserved=bindparam("reserved"), updated_us=now_us)
        )
        self._conn.execute(stmt, rows)

    # -- inbound -------------------------------------------------------------------------------------

    def inbound(self, tenant: str, skus: Collection[str], by_us: int | None = None) -> list[InboundRecord]:
        """Deliveries still on their way for these skus (with eta <= by_us when given)."""
        t = inbound_stock.c
        query = select(inbound_stock).where(
            t.tenant == tenant, t.sku.in_(sorted(skus)), t.received_us.is_(None)
        )
        if by_us is not None:
            query = query.where(t.eta_us <= by_us)
        return [_record(row) for row in self._conn.execute(query.order_by(t.eta_us, t.inbound_id))]

    def get_inbound(self, tenant: str, inbound_id: str) -> InboundRecord | None:
        t = inbound_stock.c
        row = self._conn.execute(
            select(inbound_stock).where(t.tenant == tenant, t.inbound_id == inbound_id)
        ).first()
        return _record(row) if row is not None else None

    def add_inbound(self, tenant: str, record: InboundRecord, now_us: int) -> None:
        self._conn.execute(
            insert(inbound_stock).values(
                tenant=tenant,
                inbound_id=record.inbound_id,
                sku=record.sku,
                warehouse=record.warehouse,
                quantity=record.quantity,
                eta_us=record.eta_us,
                received_us=None,
                created_us=now_us,
            )
        )

    def mark_received(self, tenant: str, inbound_id: str, now_us: int) -> None:
        t = inbound_stock.c
        self._conn.execute(
            update(inbound_stock)
            .where(t.tenant == tenant, t.inbound_id == inbound_id)
            .values(received_us=now_us)
        )

    # -- reservations --------------------------------------------------------------------------------

    def holds_of(self, tenant: str, order_ids: Collection[str]) -> list[Reservation]:
        if not order_ids:
            return []
        t = reservations.c
        query = (
            select(reservations)
            .where(t.tenant == tenant, t.order_id.in_(sorted(order_ids)))
            .order_by(t.order_id, t.line_no, t.warehouse)
        )
        return [_hold(row) for row in self._conn.execute(query)]

    def forget_spent_holds(self, tenant: str, order_ids: Collection[str]) -> None:
        """Deletes the expired and released holds of orders about to be allocated again (their
        reservation ids are reused; the orders' audit events keep the history)."""
        if not order_ids:
            return
        t = reservations.c
        spent = [HoldState.EXPIRED.value, HoldState.RELEASED.value]
        self._conn.execute(
            delete(reservations).where(
                t.tenant == tenant, t.order_id.in_(sorted(order_ids)), t.state.in_(spent)
            )
        )

    def add_holds(self, tenant: str, holds: Sequence[Reservation], now_us: int) -> None:
        if not holds:
            return
        rows = [
            {
                "tenant": tenant,
                "reservation_id": h.reservation_id,
                "order_id": h.order_id,
                "line_no": h.line_no,
                "sku": h.sku,
                "warehouse": h.warehouse,
                "quantity": h.quantity,
                "state": h.state.value,
                "expires_us": h.expires_us,
                "created_us": now_us,
                "updated_us": now_us,
            }
            for h in holds
        ]
        self._conn.execute(insert(reservations), rows)

    def save_hold_states(self, tenant: str, holds: Sequence[Reservation], now_us: int) -> None:
        if not holds:
            return
        t = reservations.c
        stmt = (
            update(reservations)
            .where(t.tenant == tenant, t.reservation_id == bindparam("b_id"))
            .values(state=bindparam("state"), updated_us=now_us)
        )
        self._conn.execute(stmt, [{"b_id": h.reservation_id, "state": h.state.value} for h in holds])

    def due_holds(self, now_us: int, limit: int, tenant: str | None = None) -> list[DueHold]:
        """Held reservations whose TTL has run out, oldest expiry first (the reaper's work list)."""
        t = reservations.c
        query = select(reservations).where(t.state == HoldState.HELD.value, t.expires_us <= now_us)
        if tenant is not None:
            query = query.where(t.tenant == tenant)
        query = query.order_by(t.expires_us, t.reservation_id).limit(limit)
        return [DueHold(row.tenant, _hold(row)) for row in self._conn.execute(query)]

    def level_rows(self, tenant: str, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], StockLevel]:
        """Rows by (sku, warehouse)."""
        if not keys:
            return {}
        t = stock_levels.c
        query = select(stock_levels).where(t.tenant == tenant, tuple_(t.sku, t.warehouse).in_(sorted(keys)))
        return {(row.sku, row.warehouse): _level(row) for row in self._conn.execute(query)}

    # -- orders waiting for stock ----------------------------------------------------------------------

    def backordered(self, tenant: str, zone: str, sku: str, limit: int) -> list[str]:
        """Ids of the tenant's backordered orders in the zone with a line of `sku`, oldest first."""
        o, ln = orders.c, order_lines.c
        query = (
            select(o.order_id)
            .join_from(orders, order_lines, and_(ln.order_id == o.order_id, ln.sku == sku))
            .where(o.tenant == tenant, o.zone == zone, o.status == OrderStatus.BACKORDERED.value)
            .group_by(o.order_id, o.create_time_us)
            .order_by(o.create_time_us, o.order_id)
            .limit(limit)
        )
        return [str(r[0]) for r in self._conn.execute(query)]

    def pool_configs(self, tenant: str, zone: str, skus: Collection[str]) -> dict[str, tuple[str, str]]:
        """The multi-zone pools among `skus` as configured in this zone: sku -> (strategy, owner)."""
        if not skus:
            return {}
        from region_service.storage.pool_schema import sku_pools

        t = sku_pools.c
        query = select(t.sku, t.strategy, t.owner).where(
            t.tenant == tenant, t.zone == zone, t.sku.in_(sorted(skus))
        )
        return {row.sku: (row.strategy, row.owner) for row in self._conn.execute(query)}

    def totals(self, tenant: str, sku: str) -> tuple[int, int]:
        """(on_hand, reserved) summed over every warehouse of the sku (tests and reports)."""
        t = stock_levels.c
        row = self._conn.execute(
            select(func.coalesce(func.sum(t.on_hand), 0), func.coalesce(func.sum(t.reserved), 0)).where(
                t.tenant == tenant, t.sku == sku
            )
        ).one()
        return int(row[0]), int(row[1])
