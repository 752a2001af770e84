"""The storage contract (region_service.ports) on SQLite and on a real PostgreSQL: orders, listing,
idempotency keys, fencing, the audit chain (sealing, tampering, concurrent sealers), migrations."""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ordermesh.audit import GENESIS_HASH
from ordermesh.errors import Fenced, StaleVersion
from ordermesh.shard import ShardKey
from ordermesh.status import OrderStatus
from region_service.ports import Fence, ListQuery, StoredResponse
from region_service.storage import admin, chain, migrate
from region_service.storage.engine import UnsupportedDatabase, make_engine
from region_service.storage.repositories import SqlUnitOfWork
from region_service.storage.transactions import SqlTransactionRunner
from tests.integration import storage_backends
from tests.integration.storage_backends import BASE_US, Backend, new_event, new_order

backend = storage_backends.backend

SHARD = ShardKey("acme", "eu", 3)


# -- orders ------------------------------------------------------------------------------------------


def test_add_then_get_round_trips_and_hides_other_tenants(backend: Backend) -> None:
    runner = backend.runner()
    order = new_order(lines=3)
    runner.run(lambda uow: uow.orders.add(order))

    assert runner.run(lambda uow: uow.orders.get("acme", order.order_id), read_only=True) == order
    assert runner.run(lambda uow: uow.orders.get("globex", order.order_id), read_only=True) is None
    assert runner.run(lambda uow: uow.orders.get("acme", "eu-3-nosuchorder"), read_only=True) is None
    assert backend.scalar("SELECT total_minor FROM orders") == order.total.amount_minor == 100 + 400 + 900
    assert backend.scalar("SELECT count(*) FROM order_lines") == 3


def test_save_status_is_compare_and_set_on_the_version(backend: Backend) -> None:
    runner = backend.runner()
    order = new_order()
    runner.run(lambda uow: uow.orders.add(order))
    confirmed = order.change_status(OrderStatus.CONFIRMED, BASE_US + 5)
    runner.run(lambda uow: uow.orders.save_status(confirmed, previous_version=1))

    cancelled = order.cancel(BASE_US + 9)  # built from the stale version-1 view
    with pytest.raises(StaleVersion) as stale:
        runner.run(lambda uow: uow.orders.save_status(cancelled, previous_version=1))
    assert stale.value.metadata["current_version"] == "2"
    stored = runner.run(lambda uow: uow.orders.get("acme", order.order_id))
    assert stored is not None
    assert (stored.status, stored.version, stored.update_time_us) == (OrderStatus.CONFIRMED, 2, BASE_US + 5)
    assert stored.lines == order.lines


def test_keyset_listing_pages_newest_first_without_gaps_or_duplicates(backend: Backend) -> None:
    runner = backend.runner()
    # 25 orders in 13 distinct create times (pairs share a time: the order_id breaks the tie),
    # plus noise that must never show up: another tenant, another zone.
    mine = [new_order(create_time_us=BASE_US + (i // 2) * 1000, lines=1 + i % 3) for i in range(25)]
    noise = [new_order(tenant="globex"), new_order(zone="us")]

    def add_all(uow: SqlUnitOfWork) -> None:
        for o in mine + noise:
            uow.orders.add(o)

    runner.run(add_all)
    by_id = {o.order_id: o for o in mine}
    expected = sorted(mine, key=lambda o: (o.create_time_us, o.order_id), reverse=True)

    def page(query: ListQuery) -> list[str]:
        orders = runner.run(lambda uow: uow.orders.list(query), read_only=True)
        assert all(o.lines == by_id[o.order_id].lines for o in orders)  # each order came with its lines
        return [o.order_id for o in orders]

    seen: list[str] = []
    after = None
    sizes = []
    while True:
        ids = page(ListQuery("acme", "eu", limit=10, after=after))
        if not ids:
            break
        sizes.append(len(ids))
        seen.extend(ids)
        last = next(o for o in mine if o.order_id == ids[-1])
        after = (last.create_time_us, last.order_id)
    assert sizes == [10, 10, 5]
    assert seen == [o.order_id for o in expected]

    # status filter: confirm every third order
    def confirm(uow: SqlUnitOfWork) -> None:
        for o in mine[::3]:
            uow.orders.save_status(o.change_status(OrderStatus.CONFIRMED, BASE_US), previous_version=1)

    runner.run(confirm)
    confirmed = page(ListQuery("acme", "eu", 100, statuses=frozenset({OrderStatus.CONFIRMED})))
    assert confirmed == [o.order_id for o in expected if o in mine[::3]]
    either = frozenset({OrderStatus.CONFIRMED, OrderStatus.PENDING})
    assert len(page(ListQuery("acme", "eu", 100, statuses=either))) == 25

    # time filters: after is inclusive, before is exclusive
    window = page(
        ListQuery("acme", "eu", 100, created_after_us=BASE_US + 2000, created_before_us=BASE_US + 5000)
    )
    assert window == [o.order_id for o in expected if BASE_US + 2000 <= o.create_time_us < BASE_US + 5000]
    assert len(window) == 6


# -- idempotency keys ---------------------------------------------------------------------------------


def test_claiming_a_key_stores_it_once_and_never_overwrites(backend: Backend) -> None:
    runner = backend.runner()
    first, second = StoredResponse("fp-1", b"first"), StoredResponse("fp-2", b"second")
    assert runner.run(lambda uow: uow.idempotency.claim("acme", "CreateOrder", "k", first, 0, 10)) is True
    assert runner.run(lambda uow: uow.idempotency.claim("acme", "CreateOrder", "k", second, 1, 11)) is False
    assert runner.run(lambda uow: uow.idempotency.claim("acme", "CancelOrder", "k", second, 1, 11)) is True
    assert runner.run(lambda uow: uow.idempotency.lookup("acme", "CreateOrder", "k")) == first


def test_idempotency_keys_are_stored_replayed_and_only_expired_ones_purged(backend: Backend) -> None:
    runner = backend.runner()

    def save(request_id: str, expires_us: int) -> None:
        response = StoredResponse(f"fp-{request_id}", b"\x00\xffanswer-" + request_id.encode())
        runner.run(
            lambda uow: uow.idempotency.save("acme", "CreateOrder", request_id, response, 0, expires_us)
        )

    for i in range(5):
        save(f"old-{i}", expires_us=100 + i)
    save("fresh", expires_us=1000)
    found = runner.run(lambda uow: uow.idempotency.lookup("acme", "CreateOrder", "fresh"))
    assert found == StoredResponse("fp-fresh", b"\x00\xffanswer-fresh")
    assert runner.run(lambda uow: uow.idempotency.lookup("acme", "CancelOrder", "fresh")) is None
    assert runner.run(lambda uow: uow.idempotency.lookup("globex", "CreateOrder", "fresh")) is None

    assert admin.purge_idempotency(runner, now_us=104, batch=2) == 5  # three batches: 2, 2, 1
    assert admin.purge_idempotency(runner, now_us=104, batch=2) == 0
    assert runner.run(lambda uow: uow.idempotency.lookup("acme", "CreateOrder", "old-4")) is None
    assert runner.run(lambda uow: uow.idempotency.lookup("acme", "CreateOrder", "fresh")) == found


# -- fencing ------------------------------------------------------------------------------------------


def test_fence_admits_only_the_current_epoch_and_epochs_only_go_up(backend: Backend) -> None:
    runner = backend.runner()
    admin.set_epoch(runner, SHARD, 3, "eu-west", now_us=BASE_US)
    order = new_order()

    with pytest.raises(Fenced) as fenced:
        runner.run(lambda uow: uow.orders.add(order), fence=Fence(SHARD, 2))
    assert fenced.value.metadata["current_epoch"] == "3"
    with pytest.raises(Fenced):
        runner.run(lambda uow: uow.orders.add(order), fence=Fence(SHARD, 4))
    assert backend.scalar("SELECT count(*) FROM orders") == 0
    runner.run(lambda uow: uow.orders.add(order), fence=Fence(SHARD, 3))
    assert backend.scalar("SELECT count(*) FROM orders") == 1
    # a shard that was never placed is at epoch 0
    unplaced = ShardKey("acme", "eu", 4)
    assert runner.run(lambda uow: uow.epochs.current(unplaced), fence=Fence(unplaced, 0)) == 0

    with pytest.raises(Fenced):
        admin.set_epoch(runner, SHARD, 2, "eu-central", now_us=BASE_US + 1)
    with pytest.raises(Fenced):
        admin.set_epoch(runner, SHARD, 3, "eu-central", now_us=BASE_US + 1)
    admin.set_epoch(runner, SHARD, 3, "eu-west", now_us=BASE_US + 1)  # same placement again: no-op
    admin.set_epoch(runner, SHARD, 5, "eu-central", now_us=BASE_US + 2)
    assert runner.run(lambda uow: uow.epochs.current(SHARD)) == 5
    assert backend.scalar("SELECT home_region FROM shard_epochs") == "eu-central"


# -- audit chain --------------------------------------------------------------------------------------


def _append(backend: Backend, count: int, shard: ShardKey = SHARD, start_us: int = BASE_US) -> None:
    def work(uow: SqlUnitOfWork) -> None:
        for i in range(count):
            uow.events.append(new_event(shard, f"eu-3-order{i % 3}", 1 + i // 3, start_us + i))

    backend.runner().run(work)


def test_events_are_unsealed_until_sealed_then_readable_after_a_cursor(backend: Backend) -> None:
    runner = backend.runner()
    other = ShardKey("globex", "eu", 1)
    _append(backend, 5)
    _append(backend, 2, shard=other)
    assert runner.run(lambda uow: uow.events.read(SHARD, 0, 100)) == []
    before = chain.verify_shard(runner, SHARD)
    assert (before.ok, before.checked, before.unsealed) == (True, 0, 5)

    assert chain.seal_pending(runner) == 7
    assert chain.seal_pending(runner) == 0
    events = runner.run(lambda uow: uow.events.read(SHARD, 0, 100))
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.chain_hash for a, b in itertools.pairwise(events))
    # an order's events keep their version order
    assert [e.event.order_version for e in events if e.event.order_id == "eu-3-order0"] == [1, 2]
    tail = runner.run(lambda uow: uow.events.read(SHARD, 2, 2))
    assert [e.sequence for e in tail] == [3, 4]
    one_order = runner.run(lambda uow: uow.events.read(SHARD, 0, 100, order_id="eu-3-order1"))
    assert [e.event.order_id for e in one_order] == ["eu-3-order1", "eu-3-order1"]

    _append(backend, 3, start_us=BASE_US + 100)
    assert chain.seal_shard(runner, SHARD) == 3
    later = runner.run(lambda uow: uow.events.read(SHARD, 5, 100))
    assert [e.sequence for e in later] == [6, 7, 8]
    assert later[0].prev_hash == events[-1].chain_hash
    report = chain.verify_shard(runner, SHARD)
    assert (report.ok, report.checked, report.unsealed) == (True, 8, 0)
    assert chain.verify_shard(runner, other).checked == 2


TAMPERING = {
    # how -> (SQL statements, first bad sequence)
    "edit": (["UPDATE order_events SET reason = 'nothing to see' WHERE sequence = 3"], 3),
    "delete": (["DELETE FROM order_events WHERE sequence = 3"], 3),
    "swap": (
        [
            "UPDATE order_events SET sequence = -1 WHERE sequence = 3",
            "UPDATE order_events SET sequence = 3 WHERE sequence = 4",
            "UPDATE order_events SET sequence = 4 WHERE sequence = -1",
        ],
        3,
    ),
    "truncate": (["DELETE FROM order_events WHERE sequence = 6"], 6),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_with_sealed_events_is_reported_at_the_first_bad_sequence(
    backend: Backend, how: str
) -> None:
    _append(backend, 6)
    chain.seal_pending(backend.engine)
    assert chain.verify_shard(backend.engine, SHARD).ok
    statements, first_bad = TAMPERING[how]
    for sql in statements:
        backend.execute(sql)
    report = chain.verify_shard(backend.engine, SHARD)
    assert not report.ok
    assert report.first_bad_sequence == first_bad, report.problem


def test_concurrent_sealers_and_writers_produce_one_contiguous_valid_chain(backend: Backend) -> None:
    _append(backend, 60)
    runners = [backend.runner(), backend.runner()]
    start = threading.Barrier(3, timeout=30)
    errors: list[BaseException] = []

    def sealer(i: int) -> None:
        try:
            start.wait()
            for _ in range(40):
                chain.seal_shard(runners[i], SHARD, batch=7)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def writer() -> None:
        try:
            start.wait()
            for i in range(20):
                _append(backend, 2, start_us=BASE_US + 1000 + i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sealer, args=(i,)) for i in range(2)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    chain.seal_pending(backend.engine)
    sequences = [row[0] for row in _rows(backend, "SELECT sequence FROM order_events ORDER BY sequence")]
    assert sequences == list(range(1, 101))
    report = chain.verify_shard(backend.engine, SHARD)
    assert (report.ok, report.checked, report.unsealed) == (True, 100, 0)
    if backend.kind == "postgresql":
        print("sealer retries:", [r.stats.retries for r in runners])


def _rows(backend: Backend, sql: str) -> list[tuple[object, ...]]:
    with backend.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


# -- migrations and engines ---------------------------------------------------------------------------


def test_check_schema_explains_missing_and_newer_schemas(backend: Backend) -> None:
    head = migrate.head_revision()
    assert migrate.check_schema(backend.engine) == head
    # every revision downgrades (the whole chain, down to an empty database) and upgrades again
    migrate.downgrade(backend.engine, "base")
    assert migrate.current_revision(backend.engine) is None
    with pytest.raises(migrate.SchemaNotCurrent, match="run `ordermesh db upgrade --topology"):
        migrate.check_schema(backend.url)

    migrate.upgrade(backend.url)
    backend.execute("UPDATE alembic_version SET version_num = '0042_from_the_future'")
    with pytest.raises(migrate.SchemaNotCurrent) as newer:
        migrate.check_schema(backend.engine)
    message = str(newer.value)
    assert f"this build knows revisions up to {head}, the database is at 0042_from_the_future" in message


def test_render_sql_compiles_the_schema_for_cockroachdb_and_postgresql() -> None:
    crdb = migrate.render_sql("cockroachdb")
    assert "CREATE TABLE order_events" in crdb
    assert "CREATE INDEX ix_order_events_unsealed ON order_events (shard_key) WHERE sequence IS NULL" in crdb
    listing = "CREATE INDEX ix_orders_listing ON orders (tenant, zone, create_time_us DESC, order_id DESC)"
    assert listing in crdb
    assert "payload BYTEA NOT NULL" in crdb
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in crdb
    reaper_queue = "ix_reservations_held_expiry ON reservations (expires_us) WHERE state = 'held'"
    assert reaper_queue in crdb
    assert "ALTER TABLE orders ADD COLUMN customer_tier INTEGER DEFAULT '0' NOT NULL" in crdb
    pg = migrate.render_sql("postgresql")
    assert "BEGIN;" in pg and "COMMIT;" in pg and "CREATE TABLE idempotency_keys" in pg
    with pytest.raises(ValueError, match="cockroachdb"):
        migrate.render_sql("oracle")


def test_make_engine_refuses_unsupported_urls_and_serves_sqlite_in_memory() -> None:
    for url in ("mysql://x/y", "postgresql+psycopg2://x/y", "oracle://x"):
        with pytest.raises(UnsupportedDatabase, match="unsupported database URL"):
            make_engine(url)
    crdb = make_engine("cockroachdb://root@127.0.0.1:26257/orders_eu")  # connects lazily
    assert (crdb.dialect.name, crdb.dialect.driver) == ("cockroachdb", "psycopg")
    assert make_engine("postgresql://u@127.0.0.1/db").dialect.driver == "psycopg"
    engine = make_engine("sqlite:///:memory:")
    try:
        migrate.upgrade(engine)
        runner = SqlTransactionRunner(engine)
        order = new_order()
        runner.run(lambda uow: uow.orders.add(order))
        assert runner.run(lambda uow: uow.orders.get("acme", order.order_id), read_only=True) == order
    finally:
        engine.dispose()


def test_read_only_transactions_refuse_writes_and_leave_the_pooled_connection_writable(
    backend: Backend,
) -> None:
    engine = make_engine(backend.url, pool_size=1)
    try:
        runner = SqlTransactionRunner(engine)
        order = new_order()
        with pytest.raises(DBAPIError):
            runner.run(lambda uow: uow.orders.add(order), read_only=True)
        assert runner.run(lambda uow: uow.orders.get("acme", order.order_id), read_only=True) is None
        runner.run(lambda uow: uow.orders.add(order))  # same pooled connection, writable again
        assert runner.run(lambda uow: uow.orders.get("acme", order.order_id), read_only=True) == order
    finally:
        engine.dispose()
