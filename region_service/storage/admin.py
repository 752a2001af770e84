"""Operator actions on a zone database: raise a shard's fencing epoch, purge idempotency keys, stats.

Failure semantics: each action is one transaction (purge: one per batch) through
SqlTransactionRunner, retried on conflicts. `set_epoch` only ever raises an epoch: two failover
controllers racing (or a stale one retrying) can never move the fence backwards; the loser gets
`Fenced`. An interrupted purge has deleted whole batches only and is simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Select, delete, func, insert, select, tuple_, update

from ordermesh.errors import Fenced
from ordermesh.shard import Placement, ShardKey
from region_service.storage.schema import idempotency_keys, order_events, order_lines, orders, shard_epochs
from region_service.storage.transactions import SqlTransactionRunner, TransactionStats, as_runner


def set_epoch(
    target: SqlTransactionRunner | Engine, shard: ShardKey, epoch: int, home_region: str, now_us: int
) -> Placement:
    """Records that `home_region` owns `shard` from `epoch` on. Refuses (Fenced) to lower the epoch,
    or to give the current epoch to another region; setting the same placement again is a no-op."""

    def work(conn: Connection) -> Placement:
        key = str(shard)
        row = conn.execute(
            select(shard_epochs.c.epoch, shard_epochs.c.home_region).where(shard_epochs.c.shard_key == key)
        ).first()
        values = {"epoch": epoch, "home_region": home_region, "updated_us": now_us}
        if row is None:
            conn.execute(insert(shard_epochs), {"shard_key": key, **values})
        elif epoch < row.epoch or (epoch == row.epoch and home_region != row.home_region):
            raise Fenced(
                f"shard {shard} is at epoch {row.epoch} (home {row.home_region}); refusing to set epoch "
                f"{epoch} for {home_region}: epochs only go up",
                {"shard": key, "current_epoch": str(row.epoch), "requested_epoch": str(epoch)},
            )
        elif epoch > row.epoch:
            conn.execute(update(shard_epochs).where(shard_epochs.c.shard_key == key).values(**values))
        return Placement(shard, home_region, epoch)

    return as_runner(target).run(lambda uow: work(uow.connection))


def purge_idempotency(target: SqlTransactionRunner | Engine, now_us: int, batch: int = 1000) -> int:
    """Deletes keys that expired at or before now_us, `batch` rows per transaction; returns how many."""
    runner = as_runner(target)
    key = tuple_(idempotency_keys.c.tenant, idempotency_keys.c.method, idempotency_keys.c.request_id)
    expired = (
        select(idempotency_keys.c.tenant, idempotency_keys.c.method, idempotency_keys.c.request_id)
        .where(idempotency_keys.c.expires_us <= now_us)
        .limit(batch)
    )
    statement = delete(idempotency_keys).where(key.in_(expired))
    total = 0
    while True:
        deleted = runner.run(lambda uow: uow.connection.execute(statement).rowcount)
        total += deleted
        if deleted < batch:
            return total


TRANSFER_RETENTION_US = 7 * 24 * 3600 * 1_000_000


def purge_transfers(
    target: SqlTransactionRunner | Engine, now_us: int, retention_us: int = TRANSFER_RETENTION_US
) -> int:
    """Deletes finished escrow transfer rows (the donor's `done`, the recipient's `received`) last
    changed before now - retention. A `sent` row is never purged: it is quota still in transit. The
    recipient's row guards against a duplicate delivery, which no call outlives by days."""
    from region_service.storage.pool_schema import pool_transfers

    t = pool_transfers.c
    statement = delete(pool_transfers).where(
        t.state.in_(["done", "received"]), t.updated_us < now_us - retention_us
    )
    return int(as_runner(target).run(lambda uow: uow.connection.execute(statement).rowcount))


@dataclass(frozen=True)
class StorageStats:
    orders: int
    order_lines: int
    events: int
    unsealed_events: int
    idempotency_keys: int
    placed_shards: int
    transactions: TransactionStats


def storage_stats(target: SqlTransactionRunner | Engine) -> StorageStats:
    """Row counts (one read-only snapshot) and the runner's transaction counters. Counts scan: admin use."""
    runner = as_runner(target)

    def work(conn: Connection) -> StorageStats:
        def count(statement: Select[tuple[int]]) -> int:
            return int(conn.execute(statement).scalar_one())

        return StorageStats(
            orders=count(select(func.count()).select_from(orders)),
            order_lines=count(select(func.count()).select_from(order_lines)),
            events=count(select(func.count()).select_from(order_events)),
            unsealed_events=count(
                select(func.count()).select_from(order_events).where(order_events.c.sequence.is_(None))
            ),
            idempotency_keys=count(select(func.count()).select_from(idempotency_keys)),
            placed_shards=count(select(func.count()).select_from(shard_epochs)),
            transactions=runner.stats,
        )

    return runner.run(lambda uow: work(uow.connection), read_only=True)
