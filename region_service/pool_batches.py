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

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from consistency.reservations import MultiZoneState
from consistency.zone_stock import Outcome
from ordermesh.errors import OrdermeshError
from region_service.storage.repositories import SqlUnitOfWork

MAX_BATCH = 256

R = TypeVar("R")
Step = Callable[[MultiZoneState, str, int, int], tuple[MultiZoneState, Outcome]]
# A decision inside the batch's transaction: the working state in, the new state and the answer out.
Decide = Callable[[SqlUnitOfWork, MultiZoneState, int], tuple[MultiZoneState, R]]


@dataclass(eq=False)
class Call(Generic[R]):
    """One queued decision and, once its batch ran, its answer."""

    decide: Decide[R]
    value: Any = None
    error: BaseException | None = None
    answered: bool = False
    wake: threading.Event = field(default_factory=threading.Event)  # answered, or made the leader

    def answer(self, value: object, error: BaseException | None) -> None:
        self.value, self.error, self.answered = value, error, True
        self.wake.set()


# Runs a batch in one transaction: one answer per call, an OrdermeshError being that call's own error.
Runner = Callable[[list["Call[Any]"]], list[object]]


class PoolQueue:
    """The calls waiting for one pool's next transaction, and whether a leader is running them.

    A leader leads only until its own call is answered, then hands over to the oldest waiting call,
    so under steady load no caller runs batches for others forever.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Call[Any]] = []
        self._leading = False

    def submit(self, call: Call[R], run: Runner) -> R:
        """Queues `call` and returns its outcome (or raises its error) once a batch has run it."""
        with self._lock:
            self._pending.append(call)
            lead = not self._leading
            self._leading = True
        while not call.answered:
            if lead:
                self._lead(call, run)
            else:
                call.wake.wait()
                call.wake.clear()
                lead = not call.answered  # woken unanswered: the previous leader handed over
        if call.error is not None:
            raise call.error
        return cast(R, call.value)

    def _lead(self, own: Call[Any], run: Runner) -> None:
        while not own.answered:
            with self._lock:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                answers = run(batch)
            except BaseException as exc:  # the transaction failed: nothing of the batch was applied
                for call in batch:
                    call.answer(None, exc)
                if not isinstance(exc, Exception):
                    self._abandon(exc)
                    raise
                continue
            for call, answer in zip(batch, answers, strict=True):
                if isinstance(answer, OrdermeshError):
                    call.answer(None, answer)
                else:
                    call.answer(answer, None)
        with self._lock:
            if self._pending:
                self._pending[0].wake.set()  # the oldest waiting call leads next
            else:
                self._leading = False

    def _abandon(self, exc: BaseException) -> None:
        """The leader is being torn down (KeyboardInterrupt, SystemExit): fail whoever still waits."""
        with self._lock:
            waiting, self._pending, self._leading = self._pending, [], False
        for call in waiting:
            call.answer(None, exc)
