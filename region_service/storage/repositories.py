"""SQL repositories over one Connection (orders, events, idempotency keys, epochs): the unit of work.

Failure semantics: every method runs inside the caller's transaction (SqlTransactionRunner owns it)
and never commits or swallows errors; a failed statement aborts the whole transaction, which the
runner rolls back and, for serialization conflicts, re-runs from the start. Round trips are kept to
what the contract needs: an order is written with two statements and read with one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    TextClause,
    and_,
    bindparam,
    insert,
    literal,
    select,
    text,
    tuple_,
    update,
)

from ordermesh.audit import EventType, OrderEvent, SealedEvent
from ordermesh.errors import StaleVersion
from ordermesh.money import Money
from ordermesh.order import MAX_LINES, Customer, Order, OrderLine
from ordermesh.shard import ShardKey
from ordermesh.status import OrderStatus
from region_service.ports import (
    EventLog,
    IdempotencyStore,
    InventoryStore,
    ListQuery,
    NewOrderBatch,
    OrderRepository,
    ShardEpochs,
    StoredResponse,
)
from region_service.storage.schema import idempotency_keys, order_events, order_lines, orders, shard_epochs

_ORDER_COLUMNS = [c for c in orders.c if c.name != "currency"]
_LINE_COLUMNS = [order_lines.c.line_no, order_lines.c.sku, order_lines.c.quantity,
                 order_lines.c.unit_price_minor, order_lines.c.currency]
_LINE_FIELDS = ("order_id", "line_no", "sku", "quantity", "unit_price_minor", "currency")
_EVENT_COLUMNS = list(order_events.c)

# Statements are built once: building a Core statement costs more CPU than running a cached one.
_INSERT_ORDER = insert(orders)
_GET_ORDER = (
    select(*_ORDER_COLUMNS, *_LINE_COLUMNS)
    .join_from(orders, order_lines, order_lines.c.order_id == orders.c.order_id)
    .where(orders.c.order_id == bindparam("b_order_id"), orders.c.tenant == bindparam("b_tenant"))
    .order_by(order_lines.c.line_no)
)
_SAVE_STATUS = (
    update(orders)
    .where(
        orders.c.order_id == bindparam("b_order_id"),
        orders.c.tenant == bindparam("b_tenant"),
        orders.c.version == bindparam("b_previous"),
    )
    .values(
        status=bindparam("b_status"), version=bindparam("b_version"), update_time_us=bindparam("b_update")
    )
)
_ORDER_VERSION = select(orders.c.version).where(
    orders.c.order_id == bindparam("b_order_id"), orders.c.tenant == bindparam("b_tenant")
)
_INSERT_EVENT = insert(order_events)
_LOOKUP_KEY = select(idempotency_keys.c.fingerprint, idempotency_keys.c.payload).where(
    idempotency_keys.c.tenant == bindparam("b_tenant"),
    idempotency_keys.c.method == bindparam("b_method"),
    idempotency_keys.c.request_id == bindparam("b_request_id"),
)
_INSERT_KEY = insert(idempotency_keys)
# Claiming a key never reads the key index first: under PostgreSQL's SSI a read-then-insert on the
# same index page by concurrent creates forms rw-cycles and aborts them; ON CONFLICT DO NOTHING is
# accepted by PostgreSQL, CockroachDB and SQLite alike. A twin that committed after our snapshot
# makes it raise 40001 (re-run by the runner), after which the claim finds the key and says so.
_CLAIM_KEY = text(
    "INSERT INTO idempotency_keys (tenant, method, request_id, fingerprint, payload, created_us, expires_us)"
    " VALUES (:tenant, :method, :request_id, :fingerprint, :payload, :created_us, :expires_us)"
    " ON CONFLICT (tenant, method, request_id) DO NOTHING"
)
_EPOCH = select(shard_epochs.c.epoch).where(shard_epochs.c.shard_key == bindparam("b_shard_key"))


@functools.lru_cache(maxsize=MAX_LINES + 1)
def _insert_lines(count: int) -> TextClause:
    """INSERT of `count` lines as one multi-row VALUES statement: one round trip (an executemany
    costs a pipeline sync on psycopg). Written as text because SQLAlchemy never caches the compiled
    form of a Core multi-values insert; this one is compiled once per line count."""
    rows = ", ".join("(" + ", ".join(f":{name}_{i}" for name in _LINE_FIELDS) + ")" for i in range(count))
    return text(f"INSERT INTO order_lines ({', '.join(_LINE_FIELDS)}) VALUES {rows}")


class SqlOrderRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(self, order: Order) -> None:
        """Inserts the order row, then all its lines in one statement."""
        total = order.total
        self._conn.execute(
            _INSERT_ORDER,
            {
                "order_id": order.order_id, "tenant": order.tenant, "zone": order.zone,
                "bucket": order.bucket, "customer_id": order.customer.customer_id,
                "customer_country": order.customer.country,
                "customer_tier": order.customer.tier, "status": order.status.value,
                "version": order.version, "currency": total.currency, "total_minor": total.amount_minor,
                "create_time_us": order.create_time_us, "update_time_us": order.update_time_us,
            },
        )
        params: dict[str, Any] = {}
        for i, line in enumerate(order.lines):
            params[f"order_id_{i}"] = order.order_id
            params[f"line_no_{i}"] = i
            params[f"sku_{i}"] = line.sku
            params[f"quantity_{i}"] = line.quantity
            params[f"unit_price_minor_{i}"] = line.unit_price.amount_minor
            params[f"currency_{i}"] = line.unit_price.currency
        self._conn.execute(_insert_lines(len(order.lines)), params)

    def get(self, tenant: str, order_id: str) -> Order | None:
        """One query (order joined with its lines); None for unknown ids and other tenants' orders."""
        rows = self._conn.execute(_GET_ORDER, {"b_order_id": order_id, "b_tenant": tenant}).all()
        found = _orders_from_rows(rows)
        return found[0] if found else None

    def save_status(self, order: Order, previous_version: int) -> None:
        """Compare-and-set on the version: raises StaleVersion if the row is not at previous_version."""
        key = {"b_order_id": order.order_id, "b_tenant": order.tenant}
        result = self._conn.execute(
            _SAVE_STATUS,
            {
                **key, "b_previous": previous_version, "b_status": order.status.value,
                "b_version": order.version, "b_update": order.update_time_us,
            },
        )
        if result.rowcount == 0:
            # Failure path only: one more read, to tell the caller where the order really is.
            current = self._conn.execute(_ORDER_VERSION, key).scalar_one_or_none()
            raise StaleVersion(
                f"order {order.order_id} is no longer at version {previous_version}"
                + (f" (it is at {current})" if current is not None else " (it does not exist)"),
                {"current_version": str(current)} if current is not None else {},
            )

    def list(self, query: ListQuery) -> Sequence[Order]:
        """One keyset page, newest first; the page's lines come in the same single query."""
        if query.limit <= 0:
            return []
        conditions: list[Any] = [orders.c.tenant == query.tenant, orders.c.zone == query.zone]
        if query.statuses:
            conditions.append(orders.c.status.in_(sorted(s.value for s in query.statuses)))
        if query.created_after_us is not None:
            conditions.append(orders.c.create_time_us >= query.created_after_us)
        if query.created_before_us is not None:
            conditions.append(orders.c.create_time_us < query.created_before_us)
        if query.after is not None:
            after = tuple_(literal(query.after[0]), literal(query.after[1]))
            conditions.append(tuple_(orders.c.create_time_us, orders.c.order_id) < after)
        page = (
            select(*_ORDER_COLUMNS)
            .where(and_(*conditions))
            .order_by(orders.c.create_time_us.desc(), orders.c.order_id.desc())
            .limit(query.limit)
            .subquery("page")
        )
        rows = self._conn.execute(
            select(*page.c, *_LINE_COLUMNS)
            .join_from(page, order_lines, order_lines.c.order_id == page.c.order_id)
            .order_by(page.c.create_time_us.desc(), page.c.order_id.desc(), order_lines.c.line_no)
        ).all()
        return _orders_from_rows(rows)


def _orders_from_rows(rows: Iterable[Row[Any]]) -> list[Order]:
    """Folds order-joined-with-line rows (grouped by order, lines in order) into Orders."""
    result: list[Order] = []
    head: Row[Any] | None = None
    lines: list[OrderLine] = []
    for row in rows:
        if head is None or row.order_id != head.order_id:
            if head is not None:
                result.append(_order(head, lines))
            head, lines = row, []
        lines.append(OrderLine(row.sku, row.quantity, Money(row.unit_price_minor, row.currency)))
    if head is not None:
        result.append(_order(head, lines))
    return result


def _order(row: Row[Any], lines: list[OrderLine]) -> Order:
    return Order(
        order_id=row.order_id, tenant=row.tenant, zone=row.zone, bucket=row.bucket,
        customer=Customer(row.customer_id, row.customer_country, row.customer_tier), lines=tuple(lines),
        status=OrderStatus(row.status), version=row.version,
        create_time_us=row.create_time_us, update_time_us=row.update_time_us,
    )


class SqlEventLog:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def append(self, event: OrderEvent) -> None:
        """Inserts the event unsealed; the sealer (chain.py) gives it its place in the chain later."""
        self._conn.execute(_INSERT_EVENT, event_row(event))

    def read(
        self, shard: ShardKey, after_sequence: int, limit: int, order_id: str | None = None
    ) -> Sequence[SealedEvent]:
        """Sealed events of the shard with sequence > after_sequence, in chain order."""
        stmt = select(*_EVENT_COLUMNS).where(
            order_events.c.shard_key == str(shard), order_events.c.sequence > after_sequence
        )
        if order_id is not None:
            stmt = stmt.where(order_events.c.order_id == order_id)
        rows = self._conn.execute(stmt.order_by(order_events.c.sequence).limit(limit)).all()
        return [sealed_event(row) for row in rows]


def event_row(event: OrderEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id, "shard_key": str(event.shard), "order_id": event.order_id,
        "order_version": event.order_version, "event_type": event.type.value,
        "from_status": event.from_status.value if event.from_status else None,
        "to_status": event.to_status.value, "actor": event.actor, "reason": event.reason,
        "occurred_us": event.occurred_us,
    }


# The columns an OrderEvent is made of, in the order `event_of` takes them (order_events' own order).
EVENT_FIELDS = tuple(order_events.c[name] for name in (
    "event_id", "shard_key", "order_id", "order_version", "event_type", "from_status", "to_status",
    "actor", "reason", "occurred_us",
))  # fmt: skip


def event_of(
    event_id: str,
    shard_key: str,
    order_id: str,
    order_version: int,
    event_type: str,
    from_status: str | None,
    to_status: str,
    actor: str,
    reason: str,
    occurred_us: int,
) -> OrderEvent:
    """An OrderEvent from its stored column values, whichever driver read them (SQLAlchemy or psycopg)."""
    return OrderEvent(
        event_id=event_id, shard=ShardKey.parse(shard_key), order_id=order_id,
        order_version=order_version, type=_EVENT_TYPES.get(event_type) or EventType(event_type),
        from_status=(_STATUSES.get(from_status) or OrderStatus(from_status)) if from_status else None,
        to_status=_STATUSES.get(to_status) or OrderStatus(to_status), actor=actor, reason=reason,
        occurred_us=occurred_us,
    )  # fmt: skip


# Stored values to members by a dict lookup (an Enum call by value costs a microsecond); an unknown
# value still falls through to the Enum call, which raises.
_EVENT_TYPES: dict[str, EventType] = {e.value: e for e in EventType}
_STATUSES: dict[str, OrderStatus] = {s.value: s for s in OrderStatus}


def order_event(row: Row[Any]) -> OrderEvent:
    return event_of(
        row.event_id, row.shard_key, row.order_id, row.order_version, row.event_type, row.from_status,
        row.to_status, row.actor, row.reason, row.occurred_us,
    )  # fmt: skip


def sealed_event(row: Row[Any]) -> SealedEvent:
    return SealedEvent(order_event(row), row.sequence, row.prev_hash, row.chain_hash)


class SqlIdempotencyStore:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def lookup(self, tenant: str, method: str, request_id: str) -> StoredResponse | None:
        """The stored response, until the key is purged (expiry takes effect at purge time, so a
        key is never both "absent" to lookup and "present" to the primary key)."""
        row = self._conn.execute(
            _LOOKUP_KEY, {"b_tenant": tenant, "b_method": method, "b_request_id": request_id}
        ).first()
        return StoredResponse(row.fingerprint, bytes(row.payload)) if row is not None else None

    def save(
        self,
        tenant: str,
        method: str,
        request_id: str,
        response: StoredResponse,
        now_us: int,
        expires_us: int,
    ) -> None:
        """Inserts the key; a concurrent twin that committed first makes this a unique violation on
        the key, which the runner answers by re-running the transaction (its lookup then replays)."""
        self._conn.execute(_INSERT_KEY, key_params(tenant, method, request_id, response, now_us, expires_us))


    def claim(
        self,
        tenant: str,
        method: str,
        request_id: str,
        response: StoredResponse,
        now_us: int,
        expires_us: int,
    ) -> bool:
        """Stores the key unless it exists (no read first); True when this call stored it."""
        params = key_params(tenant, method, request_id, response, now_us, expires_us)
        result = self._conn.execute(_CLAIM_KEY, params)
        return bool(result.rowcount == 1)


def key_params(
    tenant: str, method: str, request_id: str, response: StoredResponse, now_us: int, expires_us: int
) -> dict[str, Any]:
    return {
        "tenant": tenant, "method": method, "request_id": request_id,
        "fingerprint": response.fingerprint, "payload": response.payload,
        "created_us": now_us, "expires_us": expires_us,
    }  # fmt: skip


class SqlShardEpochs:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def current(self, shard: ShardKey) -> int:
        epoch = self._conn.execute(_EPOCH, {"b_shard_key": str(shard)}).scalar_one_or_none()
        return int(epoch) if epoch is not None else 0


class SqlUnitOfWork:
    """The repositories of one transaction, all over the same Connection (ports.UnitOfWork)."""

    def __init__(self, connection: Connection, *, sole_statement_commits: bool = False) -> None:
        self.connection = connection
        # Typed as the ports' protocols: UnitOfWork's members are settable, so mypy checks them invariantly.
        self.orders: OrderRepository = SqlOrderRepository(connection)
        self.events: EventLog = SqlEventLog(connection)
        self.idempotency: IdempotencyStore = SqlIdempotencyStore(connection)
        self.epochs: ShardEpochs = SqlShardEpochs(connection)
        from region_service.storage.batch_writes import SqlNewOrderBatch  # it imports event_row from here

        self.batch: NewOrderBatch = SqlNewOrderBatch(connection, sole_statement_commits)
        from region_service.storage.inventory import SqlInventoryStore

        self.inventory: InventoryStore = SqlInventoryStore(connection)
