"""The PostgreSQL launcher gives tests a real server that behaves like our production target."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy
from psycopg import errors

from deploy import postgres_server as postgres_server_module
from deploy.postgres_server import PostgresServer, PostgresServerError


@pytest.fixture
def durable_server() -> Iterator[PostgresServer]:
    with PostgresServer(durable=True) as server:
        yield server


def test_serializable_is_the_default_isolation(postgres_url: str) -> None:
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            level = conn.execute(sqlalchemy.text("SHOW transaction_isolation")).scalar_one()
    finally:
        engine.dispose()
    assert level == "serializable"


def test_settings_in_force(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.dsn()) as conn:
        shown = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("default_transaction_isolation", "max_connections", "fsync", "listen_addresses")
        }
    assert shown == {
        "default_transaction_isolation": ("serializable",),
        "max_connections": ("200",),
        "fsync": ("off",),
        "listen_addresses": ("127.0.0.1",),
    }


def test_concurrent_write_skew_is_refused_with_40001(
    postgres_server: PostgresServer, postgres_database: str
) -> None:
    # Classic write skew: each transaction sees two on-call doctors and takes a different one off call.
    # Under snapshot isolation both would commit and leave nobody on call; SERIALIZABLE must refuse one.
    dsn = postgres_server.dsn(postgres_database)
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE doctors (name text PRIMARY KEY, on_call boolean NOT NULL)")
        setup.execute("INSERT INTO doctors VALUES ('alice', true), ('bob', true)")

    first, second = psycopg.connect(dsn), psycopg.connect(dsn)
    failure: psycopg.Error | None = None
    try:
        for conn in (first, second):
            on_call = conn.execute("SELECT count(*) FROM doctors WHERE on_call").fetchone()
            assert on_call == (2,)
        first.execute("UPDATE doctors SET on_call = false WHERE name = 'alice'")
        try:
            second.execute("UPDATE doctors SET on_call = false WHERE name = 'bob'")
            first.commit()
            second.commit()
        except psycopg.Error as exc:
            failure = exc
    finally:
        first.close()
        second.close()

    assert isinstance(failure, errors.SerializationFailure)
    assert failure.sqlstate == "40001"
    with psycopg.connect(dsn) as check:
        assert check.execute("SELECT count(*) FROM doctors WHERE on_call").fetchone() == (1,)


def test_create_database_gives_an_empty_database(postgres_server: PostgresServer) -> None:
    name = "orders_eu_create_test"
    postgres_server.create_database(name)
    try:
        with psycopg.connect(postgres_server.dsn(name)) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
            assert tables == (0,)
    finally:
        postgres_server.drop_database(name)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(postgres_server.dsn(name)).close()


def test_dsn_works_for_libpq_tools(postgres_server: PostgresServer, postgres_database: str) -> None:
    psql = postgres_server.bindir / "psql"
    result = subprocess.run(
        [str(psql), postgres_server.dsn(postgres_database), "-XAtc", "SELECT current_database()"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.strip() == postgres_database


def test_committed_data_survives_kill_and_restart(durable_server: PostgresServer) -> None:
    durable_server.create_database("orders")
    dsn = durable_server.dsn("orders")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE orders (id text PRIMARY KEY)")
        conn.execute("INSERT INTO orders VALUES ('eu-1'), ('eu-2')")
    port = durable_server.port
    open_session = psycopg.connect(dsn)

    durable_server.kill()
    assert not durable_server.running
    with pytest.raises(psycopg.OperationalError):
        open_session.execute("SELECT 1")
    open_session.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2).close()

    durable_server.restart()
    assert durable_server.port == port  # URLs handed out before the crash stay valid
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT id FROM orders ORDER BY id").fetchall() == [("eu-1",), ("eu-2",)]


def test_stop_removes_the_cluster() -> None:
    server = PostgresServer(durable=False)
    server.start()
    root = server.data_dir.parent
    dsn = server.dsn()
    server.stop()
    server.stop()  # idempotent
    assert not root.exists()
    assert not server.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2).close()


def test_start_retries_when_the_probed_port_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real_free_port = postgres_server_module.free_port
        monkeypatch.setattr(
            postgres_server_module, "free_port", lambda: next(ports, None) or real_free_port()
        )
        with PostgresServer(durable=False) as server:
            assert server.port != taken
            with psycopg.connect(server.dsn()) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)


def test_failed_start_reports_the_server_log() -> None:
    server = PostgresServer(durable=False, settings={"shared_buffers": "not-a-size"})
    with pytest.raises(PostgresServerError, match="shared_buffers"):
        server.start()
