"""Builds the SQLAlchemy engine of a zone database: SQLite (embedded), PostgreSQL (tests), CockroachDB (prod).

Failure semantics: `make_engine` connects lazily; an unsupported URL fails at once with
`UnsupportedDatabase`. Connection errors surface on first use. Pooled PostgreSQL/CockroachDB
connections are pinged on checkout, so a restarted server costs one reconnect, not a failed call.
SQLite write transactions start with BEGIN IMMEDIATE: the write lock is taken up front, so two
writers never both hold a read lock and deadlock upgrading it (SQLITE_BUSY that busy_timeout cannot
wait out); they queue on busy_timeout instead.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

# Execution option a caller sets on a Connection before begin(): True = read-only transaction.
READ_ONLY = "ordermesh_read_only"
SQLITE_BUSY_TIMEOUT_MS = 10_000
POOL_SIZE = 20
MAX_OVERFLOW = 10

_DRIVERS = {
    "sqlite": "sqlite+pysqlite",
    "postgresql": "postgresql+psycopg",
    "cockroachdb": "cockroachdb+psycopg",
}


class UnsupportedDatabase(ValueError):
    """The URL names a database or driver that ordermesh does not run on."""


def make_engine(
    url: str | URL,
    *,
    pool_size: int = POOL_SIZE,
    pre_ping: bool = True,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    echo: bool = False,
) -> Engine:
    """An engine for `sqlite:///path` (or `sqlite:///:memory:`), `postgresql+psycopg://…` or
    `cockroachdb+psycopg://…`; PostgreSQL and CockroachDB run every transaction SERIALIZABLE."""
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in _DRIVERS or driver not in ("", _DRIVERS[backend].partition("+")[2]):
        raise UnsupportedDatabase(
            f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:///path, "
            "postgresql+psycopg://… or cockroachdb+psycopg://…"
        )
    if backend == "sqlite":
        return _sqlite_engine(parsed, pool_size, busy_timeout_ms, echo)
    connect_args: dict[str, Any] = {"connect_timeout": 10, "application_name": "ordermesh"}
    if backend == "postgresql":
        # The session default too, not only psycopg's BEGIN: a statement run alone (autocommit, see
        # storage.pg_create) is then a SERIALIZABLE transaction as well.
        connect_args["options"] = "-c default_transaction_isolation=serializable"
    return create_engine(
        parsed.set(drivername=_DRIVERS[backend]),
        isolation_level="SERIALIZABLE",
        pool_size=pool_size,
        max_overflow=MAX_OVERFLOW,
        pool_timeout=30,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        connect_args=connect_args,
        echo=echo,
    )


def _sqlite_engine(url: URL, pool_size: int, busy_timeout_ms: int, echo: bool) -> Engine:
    url = url.set(drivername="sqlite+pysqlite")
    in_memory = url.database in (None, "", ":memory:")
    connect_args = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
    kwargs: dict[str, Any] = {"connect_args": connect_args}
    if in_memory:
        # One shared connection: every checkout must see the same in-memory database.
        kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=MAX_OVERFLOW, pool_timeout=30)
    engine = create_engine(url, echo=echo, **kwargs)
    event.listen(engine, "connect", functools.partial(_sqlite_on_connect, busy_timeout_ms))
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(busy_timeout_ms: int, dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # pysqlite's own BEGIN handling is switched off so that _sqlite_on_begin decides how to begin
    # (the SQLAlchemy "serializable isolation / savepoints" recipe for pysqlite).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    read_only = bool(conn.get_execution_options().get(READ_ONLY, False))
    # query_only makes a read-only transaction refuse writes, as PostgreSQL and CockroachDB do. The
    # flag belongs to the pooled DBAPI connection, so it is switched only when it has to change, and
    # before BEGIN (BEGIN IMMEDIATE counts as a write).
    info = conn.connection.info
    if info.get("query_only", False) != read_only:
        conn.exec_driver_sql(f"PRAGMA query_only = {int(read_only)}")
        info["query_only"] = read_only
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def read_only_options(engine: Engine) -> dict[str, Any]:
    """Connection execution options that make the next transaction read-only on this engine's database."""
    if engine.dialect.name == "sqlite":
        return {READ_ONLY: True}
    # psycopg then sends BEGIN … READ ONLY (no extra round trip); PostgreSQL's SSI and CockroachDB
    # both treat declared read-only transactions more leniently, so reads abort writers less often.
    return {READ_ONLY: True, "postgresql_readonly": True}
