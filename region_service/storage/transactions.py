"""The transaction runner: one SERIALIZABLE transaction per attempt, re-run whole on conflicts, fenced.

Failure semantics: a serialization failure (SQLSTATE 40001, at any statement or at COMMIT), a
deadlock (40P01), a busy/locked SQLite database, a unique violation on a key that a concurrent twin
inserts first (see RETRYABLE_UNIQUE), or a connection lost before COMMIT was sent (the server
restarted) rolls the attempt back and re-runs `work` from scratch, after a fully jittered backoff,
at most `policy.max_attempts` times; then `Contention`. Every other
error (domain errors such as StaleVersion or Fenced included) rolls back and propagates unchanged,
on the first attempt. `work` must therefore be safe to run more than once: only its last,
committed run has any effect. An error while committing that is not a conflict (e.g. the
connection dropped) propagates: the outcome is unknown, and the caller's retry with the same
request_id is what makes that safe.

Why not sqlalchemy-cockroachdb's `run_transaction`: it retries inside one transaction with
savepoints, which on PostgreSQL keeps the old snapshot (it loops forever) and never sees a 40001
raised at COMMIT. Re-running the whole transaction works on PostgreSQL, CockroachDB and SQLite.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ordermesh.errors import Contention, Fenced
from ordermesh.retry import RetryPolicy
from region_service.ports import Fence, TransactionRunner, UnitOfWork
from region_service.storage.engine import read_only_options
from region_service.storage.repositories import SqlUnitOfWork
from region_service.storage.schema import EVENT_SEQUENCE_UQ, IDEMPOTENCY_PK, SHARD_CHAINS_PK, SHARD_EPOCHS_PK

T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# Unique keys written by "read, then insert if absent" transactions: a violation means a concurrent
# twin committed the same key first, and a re-run reads it (idempotency key: replay the stored
# response; chain head / epoch row / event sequence: seal or raise again from the new state).
RETRYABLE_UNIQUE = frozenset({IDEMPOTENCY_PK, SHARD_CHAINS_PK, SHARD_EPOCHS_PK, EVENT_SEQUENCE_UQ})
# SQLite names the columns, not the constraint: "UNIQUE constraint failed: t.a, t.b".
_SQLITE_UNIQUE = {
    "idempotency_keys.tenant, idempotency_keys.method, idempotency_keys.request_id": IDEMPOTENCY_PK,
    "shard_chains.shard_key": SHARD_CHAINS_PK,
    "shard_epochs.shard_key": SHARD_EPOCHS_PK,
    "order_events.shard_key, order_events.sequence": EVENT_SEQUENCE_UQ,
}
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6

class ConnectionLost(Exception):
    """The connection died before COMMIT was sent: the server rolled the transaction back, so a re-run
    on a fresh connection is safe. (Lost *during* COMMIT the outcome is unknown: that propagates.)"""


Inject = Callable[[int], None]
OnRetry = Callable[[int, BaseException], None]


@dataclass
class TransactionStats:
    """Counters for metrics: committed transactions, attempts, re-runs, and give-ups (Contention)."""

    transactions: int = 0
    attempts: int = 0
    retries: int = 0
    contention_failures: int = 0


class SqlTransactionRunner:
    """ports.TransactionRunner over a SQLAlchemy engine.

    Usage::

        runner = SqlTransactionRunner(engine, rng=random.Random(7))
        order = runner.run(lambda uow: uow.orders.get(tenant, order_id), read_only=True)
        runner.run(place, fence=Fence(shard, held_epoch))

    `inject(attempt)` (tests) runs after `work`, right before COMMIT, and may raise a fake
    conflict; `on_retry(attempt, error)` sees every conflict that causes a re-run.
    """

    def __init__(
        self,
        engine: Engine,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        inject: Inject | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.engine = engine
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._inject = inject
        self._on_retry = on_retry
        self._lock = threading.Lock()
        self._stats = TransactionStats()

    @property
    def stats(self) -> TransactionStats:
        """A snapshot of the counters."""
        with self._lock:
            return TransactionStats(**vars(self._stats))

    def run(
        self, work: Callable[[SqlUnitOfWork], T], *, fence: Fence | None = None, read_only: bool = False
    ) -> T:
        attempt = 0
        while True:
            attempt += 1
            self._count("attempts")
            try:
                result = self._attempt(work, fence, read_only, attempt)
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                if not self.policy.should_retry(attempt):
                    self._count("contention_failures")
                    raise gave_up(attempt, exc) from exc
                self._count("retries")
                if self._on_retry is not None:
                    self._on_retry(attempt, exc)
                self._sleep(self.policy.delay(attempt, self._rng))
                continue
            self._count("transactions")
            return result

    def _attempt(
        self, work: Callable[[SqlUnitOfWork], T], fence: Fence | None, read_only: bool, attempt: int
    ) -> T:
        committing = False
        try:
            with self.engine.connect() as connection:
                if read_only:
                    connection.execution_options(**read_only_options(self.engine))
                with connection.begin():  # commits on exit; rolls back if anything below raises
                    # A fault-injection hook runs between the work and COMMIT: no statement may
                    # commit by itself then (see SqlNewOrderBatch.write).
                    uow = SqlUnitOfWork(connection, sole_statement_commits=self._inject is None)
                    if fence is not None:
                        check_fence(uow, fence)
                    result = work(uow)
                    if self._inject is not None:
                        self._inject(attempt)
                    committing = True
                return result
        except DBAPIError as exc:
            if exc.connection_invalidated and not committing:
                raise ConnectionLost(f"connection lost before COMMIT: {_first_line(exc)}") from exc
            raise

    def record(self, name: str) -> None:
        """Counts one event of a transaction run outside `run` (the event loop's CreateOrder batches):
        "attempts", "retries", "transactions" or "contention_failures"."""
        self._count(name)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + 1)


def gave_up(attempts: int, last: BaseException) -> Contention:
    """The error of a transaction that kept conflicting until the retry policy's last attempt."""
    return Contention(
        f"transaction gave up after {attempts} attempts on conflicts; "
        f"safe to retry with the same request_id (last: {_first_line(last)})",
        {"attempts": str(attempts)},
    )


def as_runner(target: SqlTransactionRunner | Engine) -> SqlTransactionRunner:
    """The runner itself, or a default runner over an engine (admin tools and the sealer take either)."""
    return target if isinstance(target, SqlTransactionRunner) else SqlTransactionRunner(target)


def check_fence(uow: SqlUnitOfWork, fence: Fence) -> None:
    """Refuses a write by an instance whose epoch for the shard is not the zone database's epoch."""
    raise_if_fenced(fence, uow.epochs.current(fence.shard))


def raise_if_fenced(fence: Fence, current: int) -> None:
    """Fenced unless `current` (the shard's epoch read inside the transaction) is the epoch held."""
    if current != fence.epoch:
        raise Fenced(
            f"shard {fence.shard} is at epoch {current} in the zone database, this instance holds "
            f"epoch {fence.epoch}: another region owns it",
            {"shard": str(fence.shard), "held_epoch": str(fence.epoch), "current_epoch": str(current)},
        )


def is_retryable(exc: BaseException) -> bool:
    """True for conflicts a re-run of the whole transaction resolves (see module docstring)."""
    for error in _causes(exc):
        if isinstance(error, ConnectionLost):
            return True
        sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
        if sqlstate == "23505":
            diag = getattr(error, "diag", None)
            return getattr(diag, "constraint_name", None) in RETRYABLE_UNIQUE
        if isinstance(error, sqlite3.OperationalError):
            code = getattr(error, "sqlite_errorcode", 0) & 0xFF
            return code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in str(error)
        if isinstance(error, sqlite3.IntegrityError):
            _, _, columns = str(error).partition("UNIQUE constraint failed: ")
            return columns in _SQLITE_UNIQUE
    return False


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The error, the DBAPI error SQLAlchemy wrapped (`.orig`), and explicit causes (`raise … from`)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        if isinstance(error, DBAPIError):
            todo.append(error.orig)
        todo.append(error.__cause__)


def _first_line(exc: BaseException) -> str:
    text = str(exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


if TYPE_CHECKING:
    # mypy proves here that the SQL classes implement the storage contract in region_service.ports.
    def _implements_ports(
        runner: SqlTransactionRunner, uow: SqlUnitOfWork
    ) -> tuple[TransactionRunner, UnitOfWork]:
        return runner, uow
