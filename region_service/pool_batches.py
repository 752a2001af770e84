"""Group commit for one hot pool: concurrent calls of one instance share one transaction.

Why: every reserve of a hot SKU reads and writes the same slice row; under SERIALIZABLE, concurrent
transactions on it abort each other (40001) and mostly retry. Here the first caller becomes the
leader: it takes every call queued meanwhile, decides them one after the other on the slice (the same
pure functions, in arrival order) and stores the slice once. Escrow's fenced transfer writes and
gossip merges queue the same way, so this instance never races itself on the row.

Failure semantics: a call's own domain error (INVALID_ARGUMENT, e.g. releasing more than is held;
FENCED) fails that call only and leaves the slice as it was for it — so a decision must raise before
it writes anything; an error of the transaction itself (Contention, a lost database) fails every call
of the batch, none of which was applied. The runner re-runs the whole batch on a conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from consistency.reservations import MultiZoneState
from consistency.zone_stock import Outcome
from region_service.group_commit import GroupCommit
from region_service.storage.repositories import SqlUnitOfWork

MAX_BATCH = 256

R = TypeVar("R")
Step = Callable[[MultiZoneState, str, int, int], tuple[MultiZoneState, Outcome]]
# A decision inside the batch's transaction: the working state in, the new state and the answer out.
Decide = Callable[[SqlUnitOfWork, MultiZoneState, int], tuple[MultiZoneState, R]]


@dataclass(frozen=True, eq=False)
class Call(Generic[R]):
    """One queued decision."""

    decide: Decide[R]


# Runs a batch in one transaction: one answer per call, an OrdermeshError being that call's own error.
Runner = Callable[[list["Call[Any]"]], list[object]]


def _write(_pool: Hashable, queued: Sequence[tuple[Call[Any], Runner]]) -> list[object]:
    run = queued[0][1]  # one pool, one runner
    return run([call for call, _ in queued])


class PoolQueue:
    """The calls waiting for one pool's next transaction: the project's GroupCommit with one batch in
    flight (a second would only race the first on the slice row). Leadership is handed on after
    every batch, so under steady load no caller runs batches for others forever."""

    def __init__(self) -> None:
        self._group: GroupCommit[tuple[Call[Any], Runner], object] = GroupCommit(
            _write, max_batch=MAX_BATCH, max_inflight=1
        )

    def submit(self, call: Call[R], run: Runner) -> R:
        """Queues `call` and returns its outcome (or raises its error) once a batch has run it."""
        return cast(R, self._group.submit(None, (call, run)))
