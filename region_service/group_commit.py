"""Group commit: concurrent writes of one shard share one transaction, with no added wait.

Natural batching: while fewer than `max_inflight` batches of its shard are being written, a caller
leads at once, writing itself and whatever is queued; once that many are in flight, callers queue
up, and when a batch is done the head of the queue leads the next one with everything queued behind
it. An idle shard pays nothing; a busy one pays one transaction and a few multi-row statements per
batch instead of per order — the per-order cost that dominated CreateOrder was Python and round
trips, not the database's own work. Several batches in flight keep commits (fsync) overlapping.
Leadership is handed on after every batch, so no caller waits on anyone's writes but its own batch.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741  (an item)
R = TypeVar("R")


class _Slot(Generic[I, R]):
    __slots__ = ("error", "finished", "item", "lead", "result")

    def __init__(self, item: I) -> None:
        self.item = item
        self.lead = False
        self.finished = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[I, R]):
    """`write(key, items)` gives a result or an exception per item, in order; one batch per key at a time."""

    def __init__(
        self,
        write: Callable[[Hashable, Sequence[I]], Sequence[R | Exception]],
        max_batch: int = 64,
        max_inflight: int = 3,
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._cond = threading.Condition()
        self._queues: dict[Hashable, deque[_Slot[I, R]]] = {}
        self._inflight: dict[Hashable, int] = {}  # leaders per key: writing, or promoted and about to
        self.batches = 0
        self.items = 0

    def submit(self, key: Hashable, item: I) -> R:
        slot: _Slot[I, R] = _Slot(item)
        with self._cond:
            # The queue holds waiters only: a leader is never in it, so no other batch can take it.
            queue = self._queues.setdefault(key, deque())
            if self._inflight.get(key, 0) < self.max_inflight:
                self._inflight[key] = self._inflight.get(key, 0) + 1
                slot.lead = True
            else:
                queue.append(slot)
                while not slot.lead and not slot.finished:
                    self._cond.wait()
            if slot.lead:
                batch = [slot] + [queue.popleft() for _ in range(min(self.max_batch - 1, len(queue)))]
        if slot.lead:
            self._run(key, batch)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # set whenever error is None

    def _run(self, key: Hashable, batch: list[_Slot[I, R]]) -> None:
        try:
            results: Sequence[R | Exception] = self._write(key, [s.item for s in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"group commit: {len(results)} results for {len(batch)} items")
        except Exception as exc:  # the whole batch failed: every caller in it gets the error
            results = [exc] * len(batch)
        with self._cond:
            self.batches += 1
            self.items += len(batch)
            for s, r in zip(batch, results, strict=True):
                if isinstance(r, Exception):
                    s.error = r
                else:
                    s.result = r
                s.finished = True
            queue = self._queues[key]
            if queue:  # hand leadership to the longest waiter; it takes the others queued behind it
                queue.popleft().lead = True
            else:
                self._inflight[key] -= 1
                if not self._inflight[key]:
                    del self._inflight[key], self._queues[key]
            self._cond.notify_all()
