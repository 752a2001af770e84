"""PostgreSQL on the event loop: a small pool of psycopg async connections for the hot write paths.

Why: CreateOrder's batch (storage.pg_create's one statement) and the audit sealer run on the loop
instead of in the thread pool, so they cost no thread hand-off and no GIL convoy with the loop
(measured: +40% CreateOrder throughput, bench_create_order). The loop goes on serving calls while
PostgreSQL writes and syncs. SQLite and CockroachDB keep the synchronous SQLAlchemy path.

Connections are autocommit with the session default SERIALIZABLE (as engine.make_engine sets), so a
sole statement is a SERIALIZABLE transaction of its own and `conn.transaction()` opens one explicitly.
A pool may ask for REPEATABLE READ instead (the audit sealer's, see storage.pg_seal for why), and for
no server-side prepared statements (psycopg prepares after 5 executions, and PostgreSQL may then keep
a generic plan made while the tables were empty).
A connection that broke is dropped, never pooled again. Failure semantics: a connection that cannot
be opened raises DatabaseUnavailable (UNAVAILABLE to the client, who retries with the same
request_id); one that breaks during a call raises transactions.ConnectionLost, which
run_retrying re-runs on a fresh connection — both callers' work is safe to repeat even if it did
commit (CreateOrder's key claims, the sealer's head). SQL errors (40001 etc.) propagate as psycopg
errors for the same retry loop (storage.transactions.is_retryable).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from sqlalchemy.engine import URL, make_url

from ordermesh.errors import DatabaseUnavailable
from region_service.storage.transactions import ConnectionLost, SqlTransactionRunner, gave_up, is_retryable

T = TypeVar("T")

AsyncConnection = psycopg.AsyncConnection[Any]


ISOLATION_LEVELS = ("serializable", "repeatable read")


def conninfo(url: str | URL) -> str:
    """libpq's connection string for a SQLAlchemy PostgreSQL URL (any driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class AsyncPg:
    """At most `max_open` connections to one zone database at a time (callers beyond wait their
    turn), opened on demand, of which up to `size` idle ones are kept. Sessions run at `isolation`
    (ISOLATION_LEVELS); `prepare_threshold` is psycopg's (None: never prepare server-side)."""

    def __init__(
        self,
        url: str | URL,
        size: int = 4,
        max_open: int = 16,
        connect_timeout_s: int = 10,
        *,
        isolation: str = "serializable",
        prepare_threshold: int | None = 5,
    ) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            raise ValueError(f"AsyncPg needs a PostgreSQL URL, not {parsed.drivername!r}")
        if isolation not in ISOLATION_LEVELS:
            raise ValueError(f"isolation must be one of {ISOLATION_LEVELS}, not {isolation!r}")
        # libpq splits `options` at spaces unless they are escaped.
        self._options = "-c default_transaction_isolation=" + isolation.replace(" ", "\\ ")
        self._prepare_threshold = prepare_threshold
        self._conninfo = conninfo(parsed)
        self._size = size
        self._connect_timeout_s = connect_timeout_s
        self._idle: list[AsyncConnection] = []
        self._open = asyncio.Semaphore(max_open)
        self._closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one call; back to the pool afterwards unless it broke."""
        async with self._open:
            conn = await self._checkout()
            async with self._using(conn):
                yield conn

    @asynccontextmanager
    async def _using(self, conn: AsyncConnection) -> AsyncIterator[None]:
        try:
            yield
        except psycopg.Error as err:
            if conn.broken or conn.closed:
                await conn.close()
                raise ConnectionLost(f"the zone database connection broke: {err}") from err
            await self._checkin(conn)
            raise
        except BaseException:
            # Cancelled or failed mid-call: the connection's state is unknown, so it is not reused.
            await conn.close()
            raise
        await self._checkin(conn)

    async def _checkout(self) -> AsyncConnection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and not conn.broken:
                return conn
        if self._closed:
            raise DatabaseUnavailable("this region instance is shutting down; retry")
        try:
            return await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=self._connect_timeout_s,
                application_name="ordermesh",
                options=self._options,
                prepare_threshold=self._prepare_threshold,
            )
        except psycopg.OperationalError as err:
            raise DatabaseUnavailable(
                "the zone database is unavailable; retry with the same request_id"
            ) from err

    async def _checkin(self, conn: AsyncConnection) -> None:
        if self._closed or conn.broken or len(self._idle) >= self._size:
            await conn.close()
        elif not conn.closed:
            self._idle.append(conn)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


async def run_retrying(
    pg: AsyncPg,
    runner: SqlTransactionRunner,
    rng: random.Random,
    work: Callable[[AsyncConnection], Awaitable[T]],
) -> T:
    """`work` on a pooled connection, re-run whole on conflicts and on a connection that broke (as
    SqlTransactionRunner.run does): bounded by the runner's policy, fully jittered, counted in its
    stats. Out of attempts: Contention, or DatabaseUnavailable when the connection kept breaking.
    `work` must be safe to repeat even after a commit whose answer was lost."""
    policy = runner.policy
    attempt = 0
    while True:
        attempt += 1
        runner.record("attempts")
        try:
            async with pg.connection() as conn:
                result = await work(conn)
        except Exception as exc:
            if not is_retryable(exc):
                raise
            if not policy.should_retry(attempt):
                runner.record("contention_failures")
                if isinstance(exc, ConnectionLost):
                    raise DatabaseUnavailable("the zone database connection keeps breaking") from exc
                raise gave_up(attempt, exc) from exc
            runner.record("retries")
            await asyncio.sleep(policy.delay(attempt, rng))
            continue
        runner.record("transactions")
        return result
