"""Group commit's coordination: every caller gets its own answer, batches form under load, bounds hold."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Sequence

import pytest

from region_service.group_commit import GroupCommit


class Recorder:
    def __init__(self, delay_s: float = 0.002) -> None:
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.batches: list[tuple[Hashable, list[int]]] = []
        self.inflight: dict[Hashable, int] = {}
        self.max_inflight_seen = 0

    def write(self, key: Hashable, items: Sequence[int]) -> list[int | Exception]:
        with self.lock:
            self.inflight[key] = self.inflight.get(key, 0) + 1
            self.max_inflight_seen = max(self.max_inflight_seen, self.inflight[key])
            self.batches.append((key, list(items)))
        time.sleep(self.delay_s)  # a commit's latency: callers pile up behind it
        with self.lock:
            self.inflight[key] -= 1
        return [ValueError(f"odd {i}") if i % 97 == 0 else i * 10 for i in items]


def hammer(group: GroupCommit[int, int], callers: int, per_caller: int, keys: int) -> dict[int, object]:
    answers: dict[int, object] = {}
    lock = threading.Lock()

    def caller(c: int) -> None:
        for n in range(per_caller):
            item = c * per_caller + n
            try:
                answer: object = group.submit(item % keys, item)
            except ValueError as exc:
                answer = exc
            with lock:
                answers[item] = answer

    threads = [threading.Thread(target=caller, args=(c,)) for c in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


def test_every_caller_gets_its_own_answer_and_batches_form_under_load() -> None:
    rec = Recorder()
    group: GroupCommit[int, int] = GroupCommit(rec.write, max_batch=8, max_inflight=2)
    answers = hammer(group, callers=32, per_caller=20, keys=2)
    assert len(answers) == 640
    for item, answer in answers.items():
        if item % 97 == 0:
            assert isinstance(answer, ValueError) and str(answer) == f"odd {item}"
        else:
            assert answer == item * 10
    written = sorted(i for _, items in rec.batches for i in items)
    assert written == list(range(640))  # each item written exactly once
    assert all(len(items) <= 8 for _, items in rec.batches)
    assert all(i % 2 == key for key, items in rec.batches for i in items)  # batches never mix keys
    assert len(rec.batches) < 640 / 2  # batching happened
    assert rec.max_inflight_seen <= 2
    assert group.items == 640 and group.batches == len(rec.batches)


def test_an_idle_caller_is_written_alone_at_once() -> None:
    rec = Recorder(delay_s=0)
    group: GroupCommit[int, int] = GroupCommit(rec.write)
    assert group.submit("k", 5) == 50
    assert rec.batches == [("k", [5])]


def test_a_failed_batch_fails_every_caller_in_it_and_the_next_batch_still_runs() -> None:
    calls = []

    def write(key: Hashable, items: Sequence[int]) -> list[int | Exception]:
        calls.append(list(items))
        if len(calls) == 1:
            raise ConnectionError("database went away")
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write)
    with pytest.raises(ConnectionError):
        group.submit("k", 1)
    assert group.submit("k", 2) == 2
