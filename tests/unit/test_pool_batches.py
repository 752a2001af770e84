"""Group commit of one pool's calls: concurrent callers share batches, a call's own error fails only
that call, a failed transaction fails its whole batch, and leadership is handed on."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest

from consistency.reservations import MultiZoneState
from consistency.zone_stock import Outcome, Verdict
from ordermesh.errors import Contention, InvalidArgument, OrdermeshError
from region_service.pool_batches import Call, PoolQueue
from region_service.storage.repositories import SqlUnitOfWork


def _call(quantity: int) -> Call[Outcome]:
    """A call whose decision answers its quantity (13 is refused, as a call's own INVALID_ARGUMENT)."""

    def decide(uow: SqlUnitOfWork, state: MultiZoneState, now_us: int) -> tuple[MultiZoneState, Outcome]:
        if quantity == 13:
            raise InvalidArgument.single("quantity", "13 is refused")
        return state, Outcome(Verdict.GRANTED, "eu", quantity, 0)

    return Call(decide)


class Recorder:
    """A transaction runner stand-in: runs each call's decision, slowly, and records the batches."""

    def __init__(self, fail_batch: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.threads: list[str] = []
        self.fail_batch = fail_batch
        self.lock = threading.Lock()

    def __call__(self, calls: list[Call[Any]]) -> list[object]:
        answers: list[object] = []
        for call in calls:
            try:
                answers.append(call.decide(cast(SqlUnitOfWork, None), cast(MultiZoneState, None), 0)[1])
            except OrdermeshError as exc:
                answers.append(exc)
        with self.lock:
            self.batches.append(
                [13 if isinstance(a, OrdermeshError) else cast(Outcome, a).quantity for a in answers]
            )
            self.threads.append(threading.current_thread().name)
            number = len(self.batches)
        time.sleep(0.01)  # a transaction's worth of time, so that callers pile up
        if number == self.fail_batch:
            raise Contention("gave up")
        return answers


def _race(queue: PoolQueue, run: Recorder, quantities: list[int]) -> dict[int, object]:
    results: dict[int, object] = {}
    start = threading.Barrier(len(quantities))

    def caller(q: int) -> None:
        start.wait()
        try:
            results[q] = queue.submit(_call(q), run).quantity
        except Exception as exc:
            results[q] = exc

    threads = [threading.Thread(target=caller, args=(q,), name=f"caller-{q}") for q in quantities]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    return results


def test_concurrent_calls_share_batches_and_each_gets_its_own_answer() -> None:
    run = Recorder()
    results = _race(PoolQueue(), run, list(range(1, 41)))
    assert {q: r for q, r in results.items() if q != 13} == {q: q for q in range(1, 41) if q != 13}
    assert isinstance(results[13], InvalidArgument)  # its own error, nobody else's
    assert sorted(q for batch in run.batches for q in batch) == list(range(1, 41))  # each call once
    assert len(run.batches) < 40  # shared transactions
    assert len(set(run.threads)) > 1  # leadership moved on instead of one caller serving everyone


def test_a_failed_transaction_fails_exactly_its_batch() -> None:
    run = Recorder(fail_batch=1)
    results = _race(PoolQueue(), run, list(range(1, 21)))
    failed = {q for q, r in results.items() if isinstance(r, Contention)}
    assert failed == set(run.batches[0])
    assert all(results[q] == q for q in range(1, 21) if q not in failed and q != 13)


def test_a_lone_call_runs_alone() -> None:
    run = Recorder()
    queue = PoolQueue()
    assert queue.submit(_call(5), run).quantity == 5
    with pytest.raises(InvalidArgument):
        queue.submit(_call(13), run)
    assert run.batches == [[5], [13]]
