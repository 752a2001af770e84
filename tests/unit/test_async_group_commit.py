"""AsyncGroupCommit: every caller gets its own answer, one write per batch (a coroutine: in a thread
pool or on the loop itself), bounds hold."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from region_service.async_group_commit import AsyncGroupCommit
from tests.unit.test_group_commit import Recorder  # the same stand-in writer

Sync = Callable[[Hashable, Sequence[int]], Sequence[int | Exception]]
Async = Callable[[Hashable, Sequence[int]], Coroutine[Any, Any, Sequence[int | Exception]]]


def in_pool(pool: ThreadPoolExecutor, write: Sync) -> Async:
    """A synchronous writer run in the pool, as the servicer runs the SQLAlchemy path."""

    async def run(key: Hashable, items: Sequence[int]) -> Sequence[int | Exception]:
        return await asyncio.get_running_loop().run_in_executor(pool, write, key, items)

    return run


async def _hammer(
    group: AsyncGroupCommit[int, int], callers: int, per_caller: int, keys: int
) -> dict[int, object]:
    answers: dict[int, object] = {}

    async def caller(c: int) -> None:
        for n in range(per_caller):
            item = c * per_caller + n
            try:
                answers[item] = await group.submit(item % keys, item)
            except ValueError as exc:
                answers[item] = exc

    await asyncio.gather(*(caller(c) for c in range(callers)))
    return answers


def test_every_caller_gets_its_own_answer_in_shared_batches() -> None:
    rec = Recorder()
    with ThreadPoolExecutor(8) as pool:
        write = in_pool(pool, rec.write)
        group: AsyncGroupCommit[int, int] = AsyncGroupCommit(write, max_batch=8, max_inflight=2)
        answers = asyncio.run(_hammer(group, callers=32, per_caller=20, keys=2))
    assert len(answers) == 640
    for item, answer in answers.items():
        if item % 97 == 0:
            assert isinstance(answer, ValueError) and str(answer) == f"odd {item}"
        else:
            assert answer == item * 10
    assert rec.max_inflight_seen <= 2
    assert all(len(items) <= 8 and all(i % 2 == key for i in items) for key, items in rec.batches)
    assert len(rec.batches) < 640 / 2  # batches formed
    assert group.items == 640 and group.batches == len(rec.batches)
    assert not group._queues and not group._inflight and not group._writing  # nothing left behind


def test_a_writer_on_the_loop_batches_callers_of_one_key() -> None:
    batches: list[list[int]] = []
    writing = most = 0

    async def write(_key: Hashable, items: Sequence[int]) -> list[int | Exception]:
        nonlocal writing, most
        batches.append(list(items))
        writing += 1
        most = max(most, writing)
        await asyncio.sleep(0.002)  # the database's round trip: callers arriving meanwhile queue up
        writing -= 1
        return [i * 2 for i in items]

    async def scenario() -> list[int]:
        group: AsyncGroupCommit[int, int] = AsyncGroupCommit(write, max_inflight=1)

        async def caller(i: int) -> int:
            await asyncio.sleep(i * 0.0002)  # staggered arrivals
            return await group.submit("k", i)

        return list(await asyncio.gather(*(caller(i) for i in range(50))))

    assert asyncio.run(scenario()) == [i * 2 for i in range(50)]
    assert sorted(i for b in batches for i in b) == list(range(50))
    assert most == 1 and 1 < len(batches) < 50 and batches[0] == [0]  # later callers share batches


def test_a_failed_batch_fails_each_of_its_callers_and_the_key_recovers() -> None:
    calls = 0

    def write(_key: Hashable, items: Sequence[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return list(items)

    async def scenario() -> tuple[list[object], int]:
        with ThreadPoolExecutor(2) as pool:
            group: AsyncGroupCommit[int, int] = AsyncGroupCommit(in_pool(pool, write), max_inflight=1)
            first = await asyncio.gather(*(group.submit("k", i) for i in range(3)), return_exceptions=True)
            return list(first), await group.submit("k", 7)

    first, later = asyncio.run(scenario())
    assert all(isinstance(r, RuntimeError) for r in first)
    assert later == 7


def test_a_wrong_number_of_results_is_an_error_for_the_batch() -> None:
    async def scenario() -> BaseException | int:
        with ThreadPoolExecutor(1) as pool:
            group: AsyncGroupCommit[int, int] = AsyncGroupCommit(in_pool(pool, lambda _k, _items: []))
            try:
                return await group.submit("k", 1)
            except RuntimeError as exc:
                return exc

    assert isinstance(asyncio.run(scenario()), RuntimeError)
