"""Group commit on the event loop: a batch of one shard costs ONE executor hop, not one per caller.

Same batching rule as region_service.group_commit (natural batching, no added wait): while fewer
than `max_inflight` batches of a key are being written, queued callers are sent at once; otherwise
they wait for a batch to finish, and the next batch takes everything queued. The difference is
where callers wait: as asyncio futures on the loop, so a call costs no thread hand-off of its own —
only the whole batch crosses to the executor and back. A batch is formed on the next loop turn
(`call_soon`), so calls that arrive in the same turn share it. A caller that goes away (deadline,
cancellation) does not unmake its write: it is in the batch already, like any in-flight commit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Hashable, Sequence
from typing import Any, Generic, TypeVar

I = TypeVar("I")  # noqa: E741  (an item)
R = TypeVar("R")

Write = Callable[[Hashable, Sequence[I]], Coroutine[Any, Any, Sequence[R | Exception]]]


class AsyncGroupCommit(Generic[I, R]):
    """`await submit(key, item)` gives this item's result (or raises its error); batches per key."""

    def __init__(self, write: Write[I, R], max_batch: int = 64, max_inflight: int = 2) -> None:
        self._write = write
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._queues: dict[Hashable, deque[tuple[I, asyncio.Future[R]]]] = {}
        self._inflight: dict[Hashable, int] = {}  # batches of the key being written or about to be
        self._writing: set[asyncio.Task[Sequence[R | Exception]]] = set()
        self.batches = 0
        self.items = 0

    async def submit(self, key: Hashable, item: I) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append((item, future))
        if len(queue) == 1 and self._inflight.get(key, 0) < self.max_inflight:
            self._inflight[key] = self._inflight.get(key, 0) + 1
            loop.call_soon(self._launch, loop, key)
        return await future

    def _launch(self, loop: asyncio.AbstractEventLoop, key: Hashable) -> None:
        """Takes up to max_batch queued callers of the key (one slot is already counted in flight)."""
        queue = self._queues[key]
        if not queue:  # nothing left to write: give the slot back
            self._release(key)
            return
        batch = [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
        done = loop.create_task(self._write(key, [item for item, _ in batch]))
        self._writing.add(done)  # the loop keeps only a weak reference to a task
        done.add_done_callback(lambda finished: self._settle(loop, key, batch, finished))

    def _settle(
        self,
        loop: asyncio.AbstractEventLoop,
        key: Hashable,
        batch: list[tuple[I, asyncio.Future[R]]],
        finished: asyncio.Task[Sequence[R | Exception]],
    ) -> None:
        self._writing.discard(finished)
        error = finished.exception()
        results: Sequence[R | BaseException]
        if error is None:
            results = finished.result()
            if len(results) != len(batch):
                error = RuntimeError(f"group commit: {len(results)} results for {len(batch)} items")
        if error is not None:  # the whole batch failed: every caller in it gets the error
            results = [error] * len(batch)
        self.batches += 1
        self.items += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller was cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if self._queues[key]:  # the slot goes straight to the callers queued meanwhile
            self._launch(loop, key)
        else:
            self._release(key)

    def _release(self, key: Hashable) -> None:
        self._inflight[key] -= 1
        if not self._inflight[key]:
            del self._inflight[key]
            if not self._queues[key]:
                del self._queues[key]
