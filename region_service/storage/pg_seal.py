"""The audit-chain sealer on the event loop (PostgreSQL): chain.seal_pending's transactions over AsyncPg.

Why: in a worker thread the sealer's Python work convoys the GIL with the event loop that serves
gRPC (measured: ~10% less CreateOrder throughput, p99 9 -> 20 ms). On the loop it costs no thread
hop, and it seals in small transactions (LOOP_BATCH events) with a yield to the loop before each, so
the loop never runs more than a few ms of sealing at a stretch.

Failure semantics: chain.seal_shard's. Each shard batch is one SERIALIZABLE transaction (chain head
+ up to `batch` unsealed events + the new head; chain.py's statements and SealPlan), so a crash or a
cancellation mid-way seals nothing. A conflict (transactions.is_retryable: 40001, a concurrent first
seal of the shard, a connection that broke) re-runs the transaction whole from the new head after the
runner policy's jittered backoff, at most `max_attempts` times, then Contention; any other error
propagates on the first attempt. A re-run after a COMMIT whose answer was lost is safe: the events it
sealed are no longer unsealed, and the re-run starts from the head it wrote.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ordermesh.shard import ShardKey
from region_service.storage.chain import HEAD, SEAL_PG, SHARDS_UNSEALED, UNSEALED, SealPlan
from region_service.storage.pg_async import AsyncConnection, AsyncPg, run_retrying
from region_service.storage.transactions import SqlTransactionRunner

T = TypeVar("T")
# Events per transaction. Each costs ~2 ms of Python on the loop between two awaits (rows to events,
# hashing, the JSON document), the synchronous sealer's 1000 would cost ~10 ms at a stretch.
LOOP_BATCH = 200


class LoopSealer:
    """chain.seal_pending / chain.seal_shard on the running event loop, over the connections of `pg`.
    The retry policy and the transaction counters are `runner`'s (the region's), as for the
    synchronous sealer, so storage stats count sealing as before.

    Usage::

        sealer = LoopSealer(AsyncPg(url, size=1), runner, random.Random(7))
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
    # One statement: on an autocommit connection it is a (SERIALIZABLE) transaction of its own.
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
