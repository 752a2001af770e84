"""The audit-chain sealer on the event loop (PostgreSQL): chain.seal_pending's transactions over AsyncPg.

Why: in a worker thread the sealer's Python work convoys the GIL with the event loop that serves
gRPC (measured: ~10% less CreateOrder throughput, p99 9 -> 20 ms). On the loop it costs no thread
hop, and it seals in small transactions (LOOP_BATCH events) with a yield to the loop before each, so
the loop never runs more than a few ms of sealing at a stretch.

Isolation: REPEATABLE READ, on connections of its own (`sealer_pool`), the one exception to
SERIALIZABLE. Measured: under steady CreateOrder load a SERIALIZABLE seal transaction (it reads the
shard's unsealed range while batches keep inserting into it, and holds SIREAD locks on every event it
marks) was cancelled 8 times running ("read/write dependencies among transactions") and the pass gave
up; in an earlier stress run a CreateOrder batch gave up the same way, its callers answered ABORTED.
A REPEATABLE READ transaction takes no SIREAD locks, so a seal can neither be such a victim nor make
a SERIALIZABLE writer one. The chain stays linear without them: every seal writes the chain head row
(UPDATE, or INSERT of the first head under its primary key), so of two sealers of one shard the later
meets a write conflict (40001 "concurrent update", or a unique violation) and re-runs from the new
head; the events it marks it read in its own snapshot, and an event committed after that snapshot is
simply sealed by the next pass. No server-side prepared statements either: a generic plan made while
order_events was empty kept scanning the whole table as it grew (measured in one bench run: 165
sequential scans reading 2.2 M rows, against 57 reading 0.24 M planned per execution).

Failure semantics: chain.seal_shard's. Each shard batch is one transaction (chain head + up to `batch`
unsealed events + the new head; chain.py's statements and SealPlan), so a crash or a cancellation
mid-way seals nothing. A conflict (transactions.is_retryable: 40001, a concurrent first seal of the
shard, a connection that broke) re-runs the transaction whole from the new head after the runner
policy's jittered backoff, at most `max_attempts` times, then Contention; any other error propagates
on the first attempt. A re-run after a COMMIT whose answer was lost is safe: the events it sealed are
no longer unsealed, and the re-run starts from the head it wrote.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.engine import URL

from ordermesh.shard import ShardKey
from region_service.storage.chain import HEAD, SEAL_PG, SHARDS_UNSEALED, UNSEALED, SealPlan
from region_service.storage.pg_async import AsyncConnection, AsyncPg, run_retrying
from region_service.storage.transactions import SqlTransactionRunner

T = TypeVar("T")
# Events per transaction. Each costs ~2 ms of Python on the loop between two awaits (rows to events,
# hashing, the JSON document), the synchronous sealer's 1000 would cost ~10 ms at a stretch.
LOOP_BATCH = 200


def sealer_pool(url: str | URL) -> AsyncPg:
    """The sealer's one connection: REPEATABLE READ, no server-side prepared statements (see above)."""
    return AsyncPg(url, size=1, max_open=1, isolation="repeatable read", prepare_threshold=None)


class LoopSealer:
    """chain.seal_pending / chain.seal_shard on the running event loop, over the connections of `pg`.
    The retry policy and the transaction counters are `runner`'s (the region's), as for the
    synchronous sealer, so storage stats count sealing as before.

    Usage::

        sealer = LoopSealer(sealer_pool(url), runner, random.Random(7))
        sealed = await sealer.seal_pending()
    """

    def __init__(
        self,
        pg: AsyncPg,
        runner: SqlTransactionRunner,
        rng: random.Random | None = None,
        batch: int = LOOP_BATCH,
    ) -> None:
        self.pg = pg
        self.runner = runner
        self.batch = batch
        self._rng = rng or random.Random()

    async def seal_pending(self, max_shards: int = 1000) -> int:
        """Seals everything unsealed at the time of the call, shard by shard; returns how many events."""
        shards = await self._run(lambda conn: _shards_with_unsealed(conn, max_shards))
        total = 0
        for shard in shards:
            while True:
                await asyncio.sleep(0)  # the loop serves calls between two transactions
                sealed = await self.seal_shard(shard)
                total += sealed
                if sealed < self.batch:
                    break
        return total

    async def seal_shard(self, shard: ShardKey) -> int:
        """Seals up to `batch` of the shard's unsealed events after its chain head; returns how many."""
        return await self._run(lambda conn: _seal(conn, shard, self.batch))

    async def _run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await run_retrying(self.pg, self.runner, self._rng, work)


async def _shards_with_unsealed(conn: AsyncConnection, limit: int) -> list[ShardKey]:
    # One statement: on an autocommit connection it is a transaction of its own.
    cursor = await conn.execute(SHARDS_UNSEALED.pg, {"b_limit": limit})
    return [ShardKey.parse(key) for (key,) in await cursor.fetchall()]


async def _seal(conn: AsyncConnection, shard: ShardKey, batch: int) -> int:
    """chain._seal's transaction, on PostgreSQL."""
    key = str(shard)
    async with conn.transaction(), conn.cursor() as cursor:  # COMMIT on exit, ROLLBACK if anything raised
        await cursor.execute(HEAD.pg, {"b_key": key})
        head = await cursor.fetchone()
        await cursor.execute(UNSEALED.pg, {"b_key": key, "b_limit": batch})
        plan = SealPlan.of(key, head, await cursor.fetchall())
        if plan is None:
            return 0
        await cursor.execute(SEAL_PG.pg, plan.marks())
        await cursor.execute(plan.head_statement.pg, plan.head())
    return len(plan.sealed)
