"""Multi-row writes for group commit: many new orders of one shard in a handful of statements.

Every statement here is one round trip whatever the number of rows, and is compiled once per row
count (text, cached): SQLAlchemy does not cache the compiled form of multi-values Core inserts, and
compiling cost more than executing. `ON CONFLICT … DO NOTHING RETURNING` is accepted by PostgreSQL,
CockroachDB and SQLite (3.35+), so one statement tells which idempotency keys this batch claimed.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, delete, text, update

from ordermesh.audit import OrderEvent
from ordermesh.order import Order
from region_service.ports import Fence, StoredResponse
from region_service.storage import pg_create
from region_service.storage.repositories import SqlShardEpochs, event_row, key_params
from region_service.storage.schema import idempotency_keys

_ORDER_FIELDS = (
    "order_id", "tenant", "zone", "bucket", "customer_id", "customer_country", "customer_tier", "status",
    "version", "currency", "total_minor", "create_time_us", "update_time_us",
)  # fmt: skip
_LINE_FIELDS = ("order_id", "line_no", "sku", "quantity", "unit_price_minor", "currency")
_EVENT_FIELDS = (
    "event_id", "shard_key", "order_id", "order_version", "event_type", "from_status", "to_status",
    "actor", "reason", "occurred_us",
)  # fmt: skip
_KEY_FIELDS = ("tenant", "method", "request_id", "fingerprint", "payload", "created_us", "expires_us")


@functools.lru_cache(maxsize=512)
def _insert(table: str, fields: tuple[str, ...], count: int, suffix: str = "") -> TextClause:
    rows = ", ".join("(" + ", ".join(f":{name}_{i}" for name in fields) + ")" for i in range(count))
    return text(f"INSERT INTO {table} ({', '.join(fields)}) VALUES {rows}{suffix}")


def _params(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {f"{name}_{i}": value for i, row in enumerate(rows) for name, value in row.items()}


class SqlNewOrderBatch:
    """ports.NewOrderBatch over one transaction's connection."""

    def __init__(self, connection: Connection, sole_statement_commits: bool = False) -> None:
        self._conn = connection
        # write() is its transaction's last statement; when it is the first too, PostgreSQL may
        # run it as a transaction of its own (see pg_create): set by the runner, off under its
        # fault-injection hook, which runs between the work and COMMIT.
        self._sole_statement_commits = sole_statement_commits

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
        """PostgreSQL: one statement (storage.pg_create); elsewhere the fence, then claim, then writes."""
        from region_service.storage.transactions import raise_if_fenced  # it imports this module

        tenant = fence.shard.tenant
        if self._conn.dialect.name == "postgresql" and new_orders:
            keys = [(tenant, method, rid, response) for rid, response in entries]
            alone = self._sole_statement_commits
            batch = pg_create.NewOrders(
                str(fence.shard), fence.epoch, keys, new_orders, events, now_us, expires_us
            )
            epoch, claimed = pg_create.create_batch(self._conn, batch, alone)
            raise_if_fenced(fence, epoch)
            return claimed
        raise_if_fenced(fence, SqlShardEpochs(self._conn).current(fence.shard))
        claimed = self.claim_keys(tenant, method, entries, now_us, expires_us)
        won = [i for i, (rid, _) in enumerate(entries) if rid in claimed]
        self.add_orders([new_orders[i] for i in won], [events[i] for i in won])
        return claimed

    def claim_keys(
        self,
        tenant: str,
        method: str,
        entries: Sequence[tuple[str, StoredResponse]],
        now_us: int,
        expires_us: int,
    ) -> set[str]:
        if not entries:
            return set()
        rows = [key_params(tenant, method, request_id, r, now_us, expires_us) for request_id, r in entries]
        suffix = " ON CONFLICT (tenant, method, request_id) DO NOTHING RETURNING request_id"
        claim = _insert("idempotency_keys", _KEY_FIELDS, len(rows), suffix)
        return {str(row[0]) for row in self._conn.execute(claim, _params(rows))}

    def unclaim_keys(self, tenant: str, method: str, request_ids: Collection[str]) -> None:
        """Drops keys claimed earlier in this transaction for requests that were refused after all."""
        if not request_ids:
            return
        k = idempotency_keys.c
        self._conn.execute(
            delete(idempotency_keys).where(
                k.tenant == tenant, k.method == method, k.request_id.in_(sorted(request_ids))
            )
        )

    def restate_keys(self, tenant: str, method: str, payloads: Mapping[str, bytes]) -> None:
        """Replaces the stored answers of keys claimed earlier in this transaction (the order changed
        status after its key was claimed: the replay must give the final answer)."""
        if not payloads:
            return
        k = idempotency_keys.c
        stmt = (
            update(idempotency_keys)
            .where(k.tenant == tenant, k.method == method, k.request_id == bindparam("b_request_id"))
            .values(payload=bindparam("payload"))
        )
        self._conn.execute(stmt, [{"b_request_id": r, "payload": p} for r, p in payloads.items()])

    def add_orders(self, new_orders: Sequence[Order], events: Sequence[OrderEvent]) -> None:
        if not new_orders:
            return
        order_rows, line_rows = [], []
        for order in new_orders:
            total = order.total
            order_rows.append(
                {"order_id": order.order_id, "tenant": order.tenant, "zone": order.zone,
                 "bucket": order.bucket, "customer_id": order.customer.customer_id,
                 "customer_country": order.customer.country, "customer_tier": order.customer.tier,
                 "status": order.status.value, "version": order.version, "currency": total.currency,
                 "total_minor": total.amount_minor, "create_time_us": order.create_time_us,
                 "update_time_us": order.update_time_us}
            )  # fmt: skip
            line_rows += [
                {"order_id": order.order_id, "line_no": i, "sku": line.sku, "quantity": line.quantity,
                 "unit_price_minor": line.unit_price.amount_minor, "currency": line.unit_price.currency}
                for i, line in enumerate(order.lines)
            ]  # fmt: skip
        # Orders before their lines (the lines' foreign key); each table in one statement.
        self._conn.execute(_insert("orders", _ORDER_FIELDS, len(order_rows)), _params(order_rows))
        self._conn.execute(_insert("order_lines", _LINE_FIELDS, len(line_rows)), _params(line_rows))
        event_rows = [event_row(e) for e in events]
        self._conn.execute(_insert("order_events", _EVENT_FIELDS, len(event_rows)), _params(event_rows))
