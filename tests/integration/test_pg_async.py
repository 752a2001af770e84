"""AsyncPg against a real PostgreSQL: bounded connections, SERIALIZABLE sessions (or REPEATABLE READ,
unprepared, when asked), a broken connection is never reused, an unreachable database is
DatabaseUnavailable, close() ends it."""

from __future__ import annotations

import asyncio
import socket

import psycopg
import pytest

from ordermesh.errors import DatabaseUnavailable
from region_service.storage.pg_async import AsyncPg, conninfo
from region_service.storage.transactions import ConnectionLost, is_retryable


async def test_sessions_are_serializable_autocommit_and_reused(postgres_url: str) -> None:
    pool = AsyncPg(postgres_url, size=1)
    try:
        async with pool.connection() as conn:
            first = conn.pgconn.backend_pid
            cursor = await conn.execute("SHOW transaction_isolation")
            assert await cursor.fetchone() == ("serializable",)
            assert conn.autocommit
        async with pool.connection() as conn:
            assert conn.pgconn.backend_pid == first  # the idle connection was kept
    finally:
        await pool.close()


async def test_a_pool_asked_for_repeatable_read_and_no_prepared_statements_gets_them(
    postgres_url: str,
) -> None:
    pool = AsyncPg(postgres_url, size=1, isolation="repeatable read", prepare_threshold=None)
    default = AsyncPg(postgres_url, size=1)
    try:
        for chosen, prepared in ((pool, 0), (default, 1)):
            async with chosen.connection() as conn:
                cursor = await conn.execute("SHOW transaction_isolation")
                level = await cursor.fetchone()
                async with conn.transaction():
                    cursor = await conn.execute("SHOW transaction_isolation")
                    assert await cursor.fetchone() == level  # explicit transactions too
                for _ in range(8):  # psycopg prepares server-side after 5 executions by default
                    await conn.execute("SELECT count(*) FROM pg_class WHERE relname = %s", ("x",))
                cursor = await conn.execute("SELECT count(*) FROM pg_prepared_statements")
                assert await cursor.fetchone() == (prepared,)
                assert level == (("repeatable read",) if chosen is pool else ("serializable",))
    finally:
        await pool.close()
        await default.close()
    with pytest.raises(ValueError, match="isolation"):
        AsyncPg(postgres_url, isolation="read committed")


async def test_at_most_max_open_connections_at_a_time(postgres_url: str) -> None:
    pool = AsyncPg(postgres_url, size=1, max_open=2)
    holding, most = 0, 0

    async def use() -> None:
        nonlocal holding, most
        async with pool.connection() as conn:
            holding += 1
            most = max(most, holding)
            await conn.execute("SELECT pg_sleep(0.05)")
            holding -= 1

    try:
        await asyncio.gather(*(use() for _ in range(6)))
    finally:
        await pool.close()
    assert most == 2


async def test_a_connection_that_breaks_in_use_is_connection_lost_and_dropped(postgres_url: str) -> None:
    pool = AsyncPg(postgres_url, size=2)
    try:
        async with pool.connection() as conn:
            victim = conn.pgconn.backend_pid
        with pytest.raises(ConnectionLost) as lost:
            async with pool.connection() as conn:
                assert conn.pgconn.backend_pid == victim
                async with await psycopg.AsyncConnection.connect(conninfo(postgres_url)) as killer:
                    await killer.execute("SELECT pg_terminate_backend(%s)", (victim,))
                await conn.execute("SELECT 1")
        assert is_retryable(lost.value)  # callers re-run their (idempotent) work on a fresh one
        async with pool.connection() as conn:
            assert conn.pgconn.backend_pid != victim
            await conn.execute("SELECT 1")
    finally:
        await pool.close()



async def test_an_unreachable_database_is_database_unavailable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pool = AsyncPg(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none", connect_timeout_s=2)
    with pytest.raises(DatabaseUnavailable):
        async with pool.connection():
            pass


async def test_a_closed_pool_refuses_and_keeps_nothing(postgres_url: str) -> None:
    pool = AsyncPg(postgres_url, size=2)
    async with pool.connection() as conn:
        kept = conn
    await pool.close()
    assert kept.closed
    with pytest.raises(DatabaseUnavailable):
        async with pool.connection():
            pass


def test_only_postgresql_urls() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        AsyncPg("sqlite:///x.db")
