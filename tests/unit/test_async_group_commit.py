"""AsyncGroupCommit: every caller gets its own answer, one executor hop per batch, bounds hold."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor

from region_service.async_group_commit import AsyncGroupCommit
from tests.unit.test_group_commit import Recorder  # the same stand-in writer


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
        group: AsyncGroupCommit[int, int] = AsyncGroupCommit(rec.write, pool, max_batch=8, max_inflight=2)
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
    assert not group._queues and not group._inflight  # idle keys leave nothing behind


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
            group: AsyncGroupCommit[int, int] = AsyncGroupCommit(write, pool, max_inflight=1)
            first = await asyncio.gather(*(group.submit("k", i) for i in range(3)), return_exceptions=True)
            return list(first), await group.submit("k", 7)

    first, later = asyncio.run(scenario())
    assert all(isinstance(r, RuntimeError) for r in first)
    assert later == 7


def test_a_wrong_number_of_results_is_an_error_for_the_batch() -> None:
    async def scenario() -> BaseException | int:
        with ThreadPoolExecutor(1) as pool:
            group: AsyncGroupCommit[int, int] = AsyncGroupCommit(lambda _k, _items: [], pool)
            try:
                return await group.submit("k", 1)
            except RuntimeError as exc:
                return exc

    assert isinstance(asyncio.run(scenario()), RuntimeError)
