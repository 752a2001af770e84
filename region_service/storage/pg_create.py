"""PostgreSQL: a whole group-commit batch of new orders in ONE statement (fence, keys, orders, lines, events).

One data-modifying CTE reads the shard's epoch, claims the idempotency keys (ON CONFLICT DO NOTHING
RETURNING, no read first) only if the epoch is the one this instance holds, and inserts the orders,
their lines and their audit events only for the keys it claimed. It answers the epoch it read and
the request_ids it claimed; the caller raises Fenced on another epoch (nothing was written, and the
transaction is rolled back anyway). Foreign keys are checked at the end of the statement, so the
lines see their orders. Each round trip saved is a thread wake-up and a GIL hand-off in the server.
Being the first and last statement of its transaction, it runs as a transaction of its own
(autocommit, SERIALIZABLE by the session default): no BEGIN or COMMIT round trip either.

Rows travel as one JSON document per table (arrays of row arrays), so the text is the same for
every batch size: short, with few parameters, so psycopg caches its parsing and the server runs it
prepared — a multi-row VALUES text is re-parsed by psycopg on every execution (over 4 KiB or 50
parameters), and array parameters (unnest) cost psycopg a Python-level dump per element. The
documents are cast to JSONB, parsed once: `->>` on JSON re-parses the row's text for every cell
(measured: ~13% of the statement's time in PostgreSQL).

The region server runs it on the event loop (create_batch_async, over storage.pg_async) through
libpq directly: prepared once per connection under its own name, then one send and one result per
batch, errors raised as psycopg's own classes. psycopg's cursor machinery around the same statement
cost a sixth of CreateOrder's throughput (same-run A/B, C++ client: +22%, 6 of 6 rounds). The
synchronous create_batch serves the thread-pool path (OrderBook.create, tools, tests).
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import generators, pq
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from ordermesh.audit import OrderEvent
from ordermesh.order import Order
from region_service.ports import StoredResponse

_ORDER = (
    ("order_id", "TEXT"), ("tenant", "TEXT"), ("zone", "TEXT"), ("bucket", "INT"), ("customer_id", "TEXT"),
    ("customer_country", "TEXT"), ("customer_tier", "INT"), ("status", "TEXT"), ("version", "INT8"),
    ("currency", "TEXT"), ("total_minor", "INT8"), ("create_time_us", "INT8"), ("update_time_us", "INT8"),
)  # fmt: skip
_LINE = (
    ("order_id", "TEXT"), ("line_no", "INT"), ("sku", "TEXT"), ("quantity", "INT8"),
    ("unit_price_minor", "INT8"), ("currency", "TEXT"),
)  # fmt: skip
_EVENT = (
    ("event_id", "TEXT"), ("shard_key", "TEXT"), ("order_id", "TEXT"), ("order_version", "INT8"),
    ("event_type", "TEXT"), ("from_status", "TEXT"), ("to_status", "TEXT"), ("actor", "TEXT"),
    ("reason", "TEXT"), ("occurred_us", "INT8"),
)  # fmt: skip


def _insert(name: str, table: str, param: str, columns: tuple[tuple[str, str], ...]) -> str:
    """`name AS (INSERT INTO table … SELECT … FROM the JSON rows JOIN claimed)`: claimed rows only.
    Each row is a JSON array: the request_id, then the columns in order."""
    cols = ", ".join(c for c, _ in columns)
    cells = ", ".join(f"CAST(r->>{i + 1} AS {t})" for i, (_, t) in enumerate(columns))
    return (
        f"{name} AS (INSERT INTO {table} ({cols}) SELECT {cells}"
        f" FROM jsonb_array_elements(CAST(%({param})s AS JSONB)) AS r"
        " JOIN claimed c ON c.request_id = r->>0)"
    )


CREATE = (
    "WITH fence AS"
    " (SELECT COALESCE((SELECT epoch FROM shard_epochs WHERE shard_key = %(shard)s), 0) AS epoch),"
    " claimed AS (INSERT INTO idempotency_keys"
    " (tenant, method, request_id, fingerprint, payload, created_us, expires_us)"
    " SELECT CAST(%(tenant)s AS TEXT), CAST(%(method)s AS TEXT), r->>0, r->>1, decode(r->>2, 'hex'),"
    " CAST(%(now)s AS INT8), CAST(%(expires)s AS INT8)"
    " FROM jsonb_array_elements(CAST(%(keys)s AS JSONB)) AS r"
    " WHERE (SELECT epoch FROM fence) = CAST(%(held)s AS INT8)"
    " ON CONFLICT (tenant, method, request_id) DO NOTHING RETURNING request_id),"
    f" {_insert('o', 'orders', 'orders', _ORDER)},"
    f" {_insert('l', 'order_lines', 'lines', _LINE)},"
    f" {_insert('e', 'order_events', 'events', _EVENT)}"
    " SELECT f.epoch, c.request_id FROM fence f LEFT JOIN claimed c ON TRUE"
)


@dataclass(frozen=True)
class NewOrders:
    """One batch: keys[i] = (tenant, method, request_id, response) belongs to orders[i] and
    events[i], all of one tenant and method; written only if the shard's epoch is held_epoch."""

    shard_key: str
    held_epoch: int
    keys: Sequence[tuple[str, str, str, StoredResponse]]
    orders: Sequence[Order]
    events: Sequence[OrderEvent]
    now_us: int
    expires_us: int

    def params(self) -> dict[str, Any]:
        """CREATE's parameters."""
        tenant, method = self.keys[0][0], self.keys[0][1]
        key_rows, order_rows, line_rows, event_rows = [], [], [], []
        for (_, _, rid, response), o, e in zip(self.keys, self.orders, self.events, strict=True):
            key_rows.append((rid, response.fingerprint, response.payload.hex()))
            total = o.total
            order_rows.append((
                rid, o.order_id, o.tenant, o.zone, o.bucket, o.customer.customer_id, o.customer.country,
                o.customer.tier, o.status.value, o.version, total.currency, total.amount_minor,
                o.create_time_us, o.update_time_us,
            ))  # fmt: skip
            line_rows += [
                (rid, o.order_id, n, x.sku, x.quantity, x.unit_price.amount_minor, x.unit_price.currency)
                for n, x in enumerate(o.lines)
            ]
            event_rows.append((
                rid, e.event_id, str(e.shard), e.order_id, e.order_version, e.type.value,
                e.from_status.value if e.from_status else None, e.to_status.value, e.actor, e.reason,
                e.occurred_us,
            ))  # fmt: skip
        return {
            "shard": self.shard_key, "held": self.held_epoch, "tenant": tenant, "method": method,
            "now": self.now_us, "expires": self.expires_us, "keys": json_rows(key_rows),
            "orders": json_rows(order_rows), "lines": json_rows(line_rows), "events": json_rows(event_rows),
        }  # fmt: skip


def create_batch(
    conn: Connection, batch: NewOrders, sole_statement_commits: bool = False
) -> tuple[int, set[str]]:
    """(the shard's epoch, the request_ids claimed) of one batch, on a SQLAlchemy connection."""
    return _answer(_execute(conn, batch.params(), sole_statement_commits))


async def create_batch_async(conn: psycopg.AsyncConnection[Any], batch: NewOrders) -> tuple[int, set[str]]:
    """create_batch as a transaction of its own on an autocommit async connection (storage.pg_async),
    driven through libpq directly: prepared once per connection, then one send and one result."""
    pgconn = conn.pgconn
    if conn not in _PREPARED:
        pgconn.send_prepare(_NAME, _SQL)
        _check(await conn.wait(generators.execute(pgconn)), conn, pq.ExecStatus.COMMAND_OK)
        _PREPARED.add(conn)
    params = batch.params()
    pgconn.send_query_prepared(_NAME, [str(params[name]).encode() for name in _ORDER_OF_PARAMS])
    result = _check(await conn.wait(generators.execute(pgconn)), conn, pq.ExecStatus.TUPLES_OK)
    rows = [(result.get_value(i, 0), result.get_value(i, 1)) for i in range(result.ntuples)]
    return int(rows[0][0] or b"0"), {bytes(r[1]).decode() for r in rows if r[1] is not None}


def _check(results: list[Any], conn: psycopg.AsyncConnection[Any], want: pq.ExecStatus) -> Any:
    result = results[-1]
    if result.status != want:
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
    return result


def _numbered(query: str) -> tuple[bytes, tuple[str, ...]]:
    """CREATE with $1.. placeholders (libpq's), and the parameter names in their order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, query).encode(), tuple(names)


_NAME = b"ordermesh_create"
_SQL, _ORDER_OF_PARAMS = _numbered(CREATE)
_PREPARED: weakref.WeakSet[psycopg.AsyncConnection[Any]] = weakref.WeakSet()


def _answer(rows: Sequence[tuple[Any, ...]]) -> tuple[int, set[str]]:
    """(the epoch read, the request_ids claimed) from the rows CREATE answered."""
    return int(rows[0][0]), {str(r[1]) for r in rows if r[1] is not None}


# Rows as one compact JSON document per table, built by one encoder (also the sealer's, chain.py).
json_rows = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":")).encode


def _execute(conn: Connection, params: dict[str, Any], sole_statement_commits: bool) -> list[tuple[Any, ...]]:
    """Runs _CREATE on the transaction's own psycopg connection (SQLAlchemy's per-execution work
    was a third of this statement's CPU); a driver error is raised as SQLAlchemy would raise it
    (DBAPIError, the connection invalidated if it broke), so the runner's retries and the
    servicer's UNAVAILABLE mapping see the same errors."""
    driver: Any = conn.connection.driver_connection
    # The first statement of its transaction, and the last (the caller's contract): run as a
    # transaction of its own (autocommit; SERIALIZABLE by the session's default, see engine.py),
    # so BEGIN and COMMIT cost no round trip of their own. A serialization failure aborts just
    # this statement and the runner re-runs the whole transaction, as before.
    alone = sole_statement_commits and driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    try:
        if alone:
            driver.autocommit = True
        try:
            with driver.cursor() as cursor:
                cursor.execute(CREATE, params)
                rows: list[tuple[Any, ...]] = cursor.fetchall()
                return rows
        finally:
            if alone and not driver.closed:
                driver.autocommit = False
    except psycopg.Error as err:
        broken = bool(driver.closed or driver.broken)
        if broken:
            conn.invalidate(err)
        raise DBAPIError.instance(CREATE, None, err, psycopg.Error, connection_invalidated=broken) from err
