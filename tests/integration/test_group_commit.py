"""Group commit of CreateOrder against real databases: fewer transactions, same guarantees."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest

from ordermesh.clock import ManualClock
from ordermesh.errors import Fenced, IdempotencyKeyReused
from ordermesh.money import Money
from ordermesh.order import Customer, OrderDraft, OrderLine
from ordermesh.topology import Topology, parse_topology
from region_service.create_batch import NewOrder as _NewOrder
from region_service.create_batch import write_creates
from region_service.orders import OrderBook, Principal, Reply
from region_service.ports import TransactionRunner
from region_service.storage import admin
from tests.integration.storage_backends import Backend, backend  # noqa: F401  (fixture)

WHO = Principal("acme", "key-1")


def topology(url: str) -> Topology:
    return parse_topology(
        {
            "zones": {"eu": {"database": url, "regions": {"eu-west": {"endpoint": "127.0.0.1:1"}}}},
            "residency": {"countries": {"DE": "eu"}},
            "tenants": {"acme": {"zones": ["eu"]}},
        }
    )


def draft(qty: int = 1) -> OrderDraft:
    return OrderDraft(
        Customer("c-1", "DE"),
        (OrderLine("SKU-1", qty, Money(100, "EUR")), OrderLine("SKU-2", 2, Money(5, "EUR"))),
    )


def render(order: object) -> bytes:
    return repr(order).encode()


def rows(b: Backend) -> dict[str, int]:
    return {
        t: int(b.scalar(f"SELECT count(*) FROM {t}"))
        for t in ("orders", "order_lines", "order_events", "idempotency_keys")
    }


def book_for(b: Backend) -> OrderBook:
    runner = b.runner()
    return OrderBook(topology(b.url), "eu-west", cast(TransactionRunner, runner), ManualClock())


def test_concurrent_creates_share_transactions_and_each_lands_once(backend: Backend) -> None:  # noqa: F811
    book = book_for(backend)
    runner = book.runner
    answers: dict[str, Reply] = {}
    lock = threading.Lock()

    def caller(c: int) -> None:
        for n in range(15):
            rid = f"r-{c}-{n}"
            reply = book.create(WHO, rid, f"fp-{rid}", draft(), render)
            with lock:
                answers[rid] = reply

    threads = [threading.Thread(target=caller, args=(c,)) for c in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 240 and not any(r.replayed for r in answers.values())
    assert rows(backend) == {"orders": 240, "order_lines": 480, "order_events": 240, "idempotency_keys": 240}
    assert len({r.payload for r in answers.values()}) == 240
    stats = runner.stats  # type: ignore[attr-defined]
    assert stats.transactions < 240, "group commit formed no batch"
    assert book._creates.items == 240 and book._creates.batches == stats.transactions


def test_a_mixed_batch_answers_each_request_correctly(backend: Backend) -> None:  # noqa: F811
    book = book_for(backend)
    first = book.create(WHO, "old", "fp-old", draft(), render)
    shard = book.topology.shard("acme", "eu")
    items = [
        _NewOrder(WHO, "new-1", "fp-new-1", draft(), render),
        _NewOrder(WHO, "old", "fp-old", draft(), render),  # a retry of a stored request: replays
        _NewOrder(WHO, "old", "fp-other", draft(3), render),  # the same key, another body: refused
        _NewOrder(WHO, "twin", "fp-twin", draft(), render),
        _NewOrder(WHO, "twin", "fp-twin", draft(), render),  # the same request twice in one batch
    ]
    answers = write_creates(book, shard, items)
    assert isinstance(answers[0], Reply) and not answers[0].replayed
    assert isinstance(answers[1], Reply) and answers[1].replayed and answers[1].payload == first.payload
    assert isinstance(answers[2], IdempotencyKeyReused)
    assert isinstance(answers[3], Reply) and not answers[3].replayed
    assert isinstance(answers[4], Reply) and answers[4].replayed and answers[4].payload == answers[3].payload
    assert rows(backend) == {"orders": 3, "order_lines": 6, "order_events": 3, "idempotency_keys": 3}


def test_a_fenced_batch_fails_every_request_and_writes_nothing(backend: Backend) -> None:  # noqa: F811
    book = book_for(backend)
    shard = book.topology.shard("acme", "eu")
    admin.set_epoch(backend.runner(), shard, 2, "eu-central", 0)  # another region took the shard over
    items = [_NewOrder(WHO, f"f-{i}", f"fp-{i}", draft(), render) for i in range(4)]
    answers = write_creates(book, shard, items)
    assert all(isinstance(a, Fenced) for a in answers)
    assert rows(backend) == {"orders": 0, "order_lines": 0, "order_events": 0, "idempotency_keys": 0}
    with pytest.raises(Fenced):
        book.create(WHO, "f-9", "fp-9", draft(), render)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # PostgreSQL's one-statement batch
def test_on_postgresql_a_batch_is_one_serializable_statement_transaction_unless_a_hook_waits(
    backend: Backend,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch write is the first and last statement of its transaction: PostgreSQL runs it as a
    transaction of its own (no BEGIN/COMMIT round trips), SERIALIZABLE by the session default; under
    a fault-injection hook (which runs between the work and COMMIT) it stays in the runner's."""
    import psycopg

    from region_service.storage import pg_create

    assert backend.scalar("SHOW default_transaction_isolation") == "serializable"
    seen: list[tuple[str, bool]] = []
    original = pg_create._execute

    def spy(conn: Any, params: dict[str, Any], sole_statement_commits: bool) -> Any:
        rows = original(conn, params, sole_statement_commits)
        driver = conn.connection.driver_connection
        seen.append((psycopg.pq.TransactionStatus(driver.pgconn.transaction_status).name, driver.autocommit))
        return rows

    monkeypatch.setattr(pg_create, "_execute", spy)
    book_for(backend).create(WHO, "alone-1", "fp-alone-1", draft(), render)
    assert seen == [("IDLE", False)]  # committed by the statement itself; autocommit switched back
    hooked: list[int] = []
    book = OrderBook(
        topology(backend.url), "eu-west", cast(TransactionRunner, backend.runner(inject=hooked.append)),
        ManualClock(),
    )  # fmt: skip
    book.create(WHO, "hooked-1", "fp-hooked-1", draft(), render)
    assert seen[1] == ("INTRANS", False) and hooked == [1]
    assert rows(backend) == {"orders": 2, "order_lines": 4, "order_events": 2, "idempotency_keys": 2}
