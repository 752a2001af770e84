"""SqlTransactionRunner: real serialization conflicts (also at COMMIT) are re-run whole, fake ones up to
Contention with jittered sleeps, domain errors are never retried, and 32 racing twins create one order."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ordermesh.errors import Contention, StaleVersion
from ordermesh.order import Order
from ordermesh.retry import RetryPolicy
from ordermesh.shard import ShardKey
from region_service.ports import StoredResponse
from region_service.storage import migrate
from region_service.storage.engine import make_engine
from region_service.storage.repositories import SqlUnitOfWork
from region_service.storage.transactions import SqlTransactionRunner, is_retryable
from tests.integration import storage_backends
from tests.integration.storage_backends import BASE_US, Backend, new_event, new_order

backend = storage_backends.backend

SHARD = ShardKey("acme", "eu", 3)
FAST = RetryPolicy(max_attempts=10, base_delay_s=0.001, max_delay_s=0.02)


def test_real_write_skew_is_retried_whole_and_the_loser_fails_at_commit(backend: Backend) -> None:
    # On PostgreSQL both transactions read, then both write, then both commit (barriers): a real
    # 40001. SQLite's BEGIN IMMEDIATE lets only one writer in at a time (barriers would deadlock), so
    # there it runs without them and only the serializable outcome is checked.
    racing = backend.kind == "postgresql"
    backend.execute("CREATE TABLE oncall (id INT PRIMARY KEY, v BIGINT NOT NULL)")
    backend.execute("INSERT INTO oncall VALUES (1, 0), (2, 0)")
    before_commit: list[tuple[str, int]] = []  # (thread, attempt): work finished, COMMIT about to run
    retried: list[tuple[str, int, BaseException]] = []
    local = threading.local()
    runner = backend.runner(
        policy=FAST,
        inject=lambda attempt: before_commit.append((local.name, attempt)),
        on_retry=lambda attempt, exc: retried.append((local.name, attempt, exc)),
    )
    read_done, write_done = threading.Barrier(2, timeout=20), threading.Barrier(2, timeout=20)

    def work(uow: SqlUnitOfWork, mine: int) -> None:
        # Each sets its own row to (sum of both) + 1: any serial order ends with {1, 2}; under plain
        # snapshot isolation both would read 0 and write 1.
        total = uow.connection.execute(text("SELECT sum(v) FROM oncall")).scalar_one()
        first = not getattr(local, "ran", False)
        local.ran = True
        if first and racing:
            read_done.wait()
        uow.connection.execute(text("UPDATE oncall SET v = :v WHERE id = :id"), {"v": total + 1, "id": mine})
        if first and racing:
            write_done.wait()  # both wrote before either commits: the conflict surfaces at COMMIT

    errors: list[BaseException] = []

    def worker(mine: int) -> None:
        local.name = f"t{mine}"
        try:
            runner.run(lambda uow: work(uow, mine))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    with backend.engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT v FROM oncall")).scalars()) == [1, 2]
    stats = runner.stats
    assert stats.transactions == 2
    if not racing:
        return
    assert stats.retries >= 1
    causes = [exc.orig for _, _, exc in retried if isinstance(exc, DBAPIError)]
    assert len(causes) == len(retried) and all(getattr(c, "sqlstate", "") == "40001" for c in causes)
    print("write skew retried on:", [str(c).splitlines()[-2:] for c in causes])
    # The failed attempt had finished all its statements (the hook runs right before COMMIT): the
    # serialization failure was raised by COMMIT itself.
    at_commit = [(name, attempt) for name, attempt, _ in retried if (name, attempt) in before_commit]
    assert at_commit, (retried, before_commit)


def test_injected_conflicts_are_retried_with_jittered_backoff_then_contention(backend: Backend) -> None:
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.015)
    attempts: list[int] = []
    sleeps: list[float] = []

    def conflict(attempt: int) -> None:
        attempts.append(attempt)
        raise psycopg.errors.SerializationFailure("injected: could not serialize access")

    runner = backend.runner(policy=policy, rng=random.Random(7), sleep=sleeps.append, inject=conflict)
    order = new_order()
    with pytest.raises(Contention) as gave_up:
        runner.run(lambda uow: uow.orders.add(order))
    assert gave_up.value.metadata == {"attempts": "4"}
    assert attempts == [1, 2, 3, 4]
    replay = random.Random(7)
    assert sleeps == [policy.delay(n, replay) for n in (1, 2, 3)]
    assert 0 <= sleeps[0] <= 0.01 and all(0 <= s <= 0.015 for s in sleeps)
    assert len(set(sleeps)) == 3  # jittered, not fixed
    stats = runner.stats
    assert (stats.attempts, stats.retries, stats.contention_failures, stats.transactions) == (4, 3, 1, 0)
    assert backend.scalar("SELECT count(*) FROM orders") == 0  # every attempt rolled back


def test_a_rerun_starts_from_scratch_so_only_the_last_attempt_takes_effect(backend: Backend) -> None:
    def flaky(attempt: int) -> None:
        if attempt < 3:
            raise psycopg.errors.SerializationFailure("injected")

    runner = backend.runner(policy=FAST, sleep=lambda s: None, inject=flaky)
    runs: list[str] = []

    def create(uow: SqlUnitOfWork) -> str:
        order = new_order()  # a fresh id per run, as a real handler would mint
        runs.append(order.order_id)
        uow.orders.add(order)
        return order.order_id

    order_id = runner.run(create)
    assert len(runs) == 3 and order_id == runs[-1]
    assert backend.scalar("SELECT count(*) FROM orders") == 1
    assert backend.scalar("SELECT order_id FROM orders") == order_id


def test_domain_errors_and_other_constraint_violations_roll_back_without_retry(backend: Backend) -> None:
    runner = backend.runner(policy=FAST)
    order = new_order()

    def add_then_refuse(uow: SqlUnitOfWork) -> None:
        uow.orders.add(order)
        raise StaleVersion("refused by the domain")

    with pytest.raises(StaleVersion, match="refused by the domain"):
        runner.run(add_then_refuse)
    assert runner.stats.attempts == 1
    assert backend.scalar("SELECT count(*) FROM orders") == 0

    runner.run(lambda uow: uow.orders.add(order))
    with pytest.raises(IntegrityError) as duplicate:  # same order id twice: a bug, not a conflict
        runner.run(lambda uow: uow.orders.add(order))
    assert not is_retryable(duplicate.value)
    assert runner.stats.attempts == 3 and runner.stats.retries == 0

    # The same unique violation on the idempotency key *is* a conflict (a twin committed first).
    response = StoredResponse("fp", b"x")
    runner.run(lambda uow: uow.idempotency.save("acme", "CreateOrder", "r1", response, 0, 1))
    with pytest.raises(IntegrityError) as twin, backend.engine.begin() as conn:
        SqlUnitOfWork(conn).idempotency.save("acme", "CreateOrder", "r1", response, 0, 1)
    assert is_retryable(twin.value)


def test_32_racing_twins_of_one_request_create_exactly_one_order(backend: Backend) -> None:
    runner = backend.runner(policy=RetryPolicy(max_attempts=20, base_delay_s=0.002, max_delay_s=0.05))
    start = threading.Barrier(32, timeout=30)
    results: list[str] = []
    errors: list[BaseException] = []

    def create(uow: SqlUnitOfWork) -> str:
        stored = uow.idempotency.lookup("acme", "CreateOrder", "req-1")
        if stored is not None:
            return stored.payload.decode()
        order = new_order()
        uow.orders.add(order)
        uow.events.append(new_event(SHARD, order.order_id, 1, BASE_US))
        response = StoredResponse("fingerprint-1", order.order_id.encode())
        uow.idempotency.save("acme", "CreateOrder", "req-1", response, BASE_US, BASE_US + 86_400_000_000)
        return order.order_id

    def worker() -> None:
        try:
            start.wait()
            results.append(runner.run(create))
        except BaseException as exc:
            errors.append(exc)

    run_threads(32, worker)
    assert not errors
    assert len(results) == 32 and len(set(results)) == 1
    assert backend.scalar("SELECT count(*) FROM orders") == 1
    assert backend.scalar("SELECT order_id FROM orders") == results[0]
    assert backend.scalar("SELECT count(*) FROM order_events") == 1
    assert backend.scalar("SELECT count(*) FROM idempotency_keys") == 1
    assert runner.stats.transactions == 32
    print(f"{backend.kind}: 32 twins, retries={runner.stats.retries}")


def run_threads(count: int, target: Callable[[], None]) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)


def test_a_busy_sqlite_database_is_retried_until_the_writer_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "zone.db"
    migrate.upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}", busy_timeout_ms=20)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        impatient = SqlTransactionRunner(engine, RetryPolicy(max_attempts=2, base_delay_s=0.001))
        with pytest.raises(Contention):
            impatient.run(lambda uow: uow.orders.add(new_order()))
        assert is_retryable(sqlite3.OperationalError("database is locked"))

        release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
        release.start()
        patience = RetryPolicy(max_attempts=100, base_delay_s=0.01, max_delay_s=0.02)
        patient = SqlTransactionRunner(engine, patience)
        order = new_order()
        patient.run(lambda uow: uow.orders.add(order))
        release.join()
        assert patient.stats.retries >= 1
        assert patient.run(lambda uow: uow.orders.get("acme", order.order_id), read_only=True) == order
    finally:
        holder.close()
        engine.dispose()


def test_a_connection_lost_before_commit_is_rerun_but_one_lost_at_commit_is_not(postgres_url: str) -> None:
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url, pre_ping=False)
    killer = make_engine(postgres_url, pool_size=1)
    pids: list[int] = []

    def terminate_session() -> None:  # what a server restart or a network cut does to a session
        with killer.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[-1]})

    def add(order: Order, cut_on_first_attempt: bool) -> Callable[[SqlUnitOfWork], None]:
        def work(uow: SqlUnitOfWork) -> None:
            pids.append(uow.connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
            if cut_on_first_attempt and len(pids) == 1:
                terminate_session()
            uow.orders.add(order)

        return work

    try:
        runner = SqlTransactionRunner(engine, FAST, sleep=lambda s: None)
        runner.run(add(new_order(), cut_on_first_attempt=True))
        assert (runner.stats.attempts, runner.stats.retries) == (2, 1)

        pids.clear()
        cut_at_commit = SqlTransactionRunner(engine, FAST, inject=lambda _: terminate_session())
        with pytest.raises(DBAPIError):  # lost with COMMIT due: the outcome is unknown, no blind re-run
            cut_at_commit.run(add(new_order(), cut_on_first_attempt=False))
        assert cut_at_commit.stats.attempts == 1
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM orders")).scalar_one() == 1
    finally:
        engine.dispose()
        killer.dispose()
