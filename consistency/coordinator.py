"""The coordinator contract: session state, instance registry, placement directory, elections, fenced locks.

Failure semantics (both backends): every call is bounded by a timeout and ends in a named error, never a
hang. `CoordinatorUnavailable` from a *mutating* call means "outcome unknown": re-read before retrying
(the placement compare-and-set makes a blind retry safe: it conflicts instead of moving twice). A session
that is SUSPENDED may come back; a LOST session has lost everything ephemeral (instance registrations,
election candidacies, held locks) — the holder must stop writing until it has re-registered and
re-acquired. `is_writable()` is True only while CONNECTED.

Callbacks: state listeners run synchronously in the thread that changes the state (as kazoo's do), so
they see the new state and must not block. Watch callbacks run on one coordinator-owned thread, in order,
once with the current value when registered and again after every change.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, NewType, Protocol, TypeVar

from ordermesh.shard import Placement, ShardKey

log = logging.getLogger(__name__)

T = TypeVar("T")

FencingToken = NewType("FencingToken", int)
"""Strictly increases with every acquisition of one lock name, across all clients (values may skip)."""

StateListener = Callable[["SessionState"], None]
InstancesCallback = Callable[[list["Instance"]], None]
PlacementsCallback = Callable[[dict[ShardKey, Placement]], None]
Unwatch = Callable[[], None]


class SessionState(enum.Enum):
    """The coordinator session as a writer must read it."""

    CONNECTED = "connected"
    SUSPENDED = "suspended"  # connection lost; the session (and its ephemerals) may still be alive
    LOST = "lost"  # session expired or closed: every ephemeral of it is gone


@dataclass(frozen=True, order=True)
class Instance:
    """A live regional instance, registered for as long as its coordinator session lives."""

    region: str
    instance_id: str
    endpoint: str


class CoordinatorError(Exception):
    """Base of every coordinator failure."""


class CoordinatorUnavailable(CoordinatorError):
    """No answer in time, or the session is not CONNECTED; for a mutation the outcome is unknown."""


class PlacementConflict(CoordinatorError):
    """Compare-and-set of a placement failed: the shard's epoch is not the one the caller expected."""

    def __init__(self, shard: ShardKey, expected_epoch: int | None, actual: Placement | None) -> None:
        self.shard = shard
        self.expected_epoch = expected_epoch
        self.actual = actual
        now = f"epoch {actual.epoch} at {actual.home_region}" if actual else "unplaced"
        super().__init__(f"placement of {shard}: expected epoch {expected_epoch}, but it is {now}")


class LockTimeout(CoordinatorError):
    """The lock was not acquired within the timeout."""

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        super().__init__(f"lock {name!r} not acquired within {timeout}s")


class ElectionTimeout(CoordinatorError):
    """Leadership was not won within the timeout."""


class Election(Protocol):
    """One candidate in the election `name`; a candidacy ends on resign() or when its session is LOST."""

    name: str
    identifier: str

    def campaign(self) -> None:
        """Enter the election without waiting (a no-op while already a candidate)."""

    def is_leader(self) -> bool:
        """True while this candidate leads and its session is CONNECTED."""

    def wait_until_leader(self, timeout: float) -> bool:
        """Campaign if needed, then wait up to `timeout` s; returns is_leader()."""

    def resign(self) -> None:
        """Leave the election (best effort on a broken session: the server drops it on expiry)."""

    def run(self, func: Callable[[], T], timeout: float) -> T:
        """Win within `timeout` (else ElectionTimeout), call func() as leader, then resign."""


class Coordinator(Protocol):
    """The contract both backends (ZooKeeper, in-memory) honour; see the module docstring for failures."""

    # -- session
    def state(self) -> SessionState: ...

    def is_writable(self) -> bool:
        """True only while CONNECTED: otherwise a holder of placements, locks or leadership must not write."""

    def add_state_listener(self, listener: StateListener) -> None: ...

    def remove_state_listener(self, listener: StateListener) -> None: ...

    def expire_session(self, timeout: float = 10.0) -> None:
        """Fault injection: make the current session expire for real; returns once LOST was observed."""

    def close(self) -> None:
        """End the session (its ephemerals vanish at once) and stop callbacks. Idempotent."""

    # -- instance registry
    def register_instance(
        self, region: str, instance_id: str, endpoint: str, *, timeout: float | None = None
    ) -> Instance: ...

    def deregister_instance(self, region: str, instance_id: str, *, timeout: float | None = None) -> None: ...

    def instances(self, region: str | None = None, *, timeout: float | None = None) -> list[Instance]:
        """Live instances (sorted), optionally of one region."""

    def watch_instances(self, callback: InstancesCallback) -> Unwatch: ...

    # -- placement directory
    def placement(self, shard: ShardKey, *, timeout: float | None = None) -> Placement | None: ...

    def placements(self, *, timeout: float | None = None) -> dict[ShardKey, Placement]: ...

    def set_placement(
        self, shard: ShardKey, home_region: str, expected_epoch: int | None, *, timeout: float | None = None
    ) -> Placement:
        """Compare-and-set: expected_epoch None means "not placed yet" (first epoch is 1); every
        successful call raises the epoch by exactly 1; a mismatch raises PlacementConflict."""

    def watch_placements(self, callback: PlacementsCallback) -> Unwatch: ...

    # -- drained regions: an operator's intent, kept across failover-controller leader changes
    def drained_regions(self, *, timeout: float | None = None) -> frozenset[str]: ...

    def set_drained(self, region: str, drained: bool, *, timeout: float | None = None) -> None:
        """Marks `region` drained (no failover target, its shards kept off) or not; idempotent."""

    # -- leader election
    def election(self, name: str, identifier: str) -> Election: ...

    def leader(self, name: str, *, timeout: float | None = None) -> str | None:
        """The identifier of the current leader of `name`, or None."""

    # -- locks with fencing tokens
    def lock(self, name: str, holder: str, timeout: float) -> AbstractContextManager[FencingToken]:
        """Hold `name` for the with-block; yields its new fencing token; LockTimeout after `timeout` s."""

    def current_token(self, name: str, *, timeout: float | None = None) -> FencingToken:
        """The latest token issued for `name` (0 if never locked); a write is fenced unless token >= it."""


def check_name(kind: str, value: str) -> str:
    """Region, instance, election and lock names become znode name parts: no '/', '~', blanks."""
    if not value or value.strip() != value or any(c in value for c in "/~\x00") or value in (".", ".."):
        raise ValueError(f"invalid {kind} name: {value!r}")
    return value


class CallbackThread:
    """Runs submitted callbacks one at a time, in order, on a daemon thread; a failing callback is logged."""

    def __init__(self, name: str) -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], None]) -> None:
        self._queue.put(fn)

    def _run(self) -> None:
        while (fn := self._queue.get()) is not None:
            try:
                fn()
            except Exception:
                log.exception("coordinator callback failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


class SnapshotWatch(Generic[T]):
    """Delivers a snapshot to a callback when it changed; refreshes coalesce while one is queued."""

    def __init__(self, read: Callable[[], T], callback: Callable[[T], None], runner: CallbackThread) -> None:
        self._read = read
        self._callback = callback
        self._runner = runner
        self._lock = threading.Lock()
        self._queued = False
        self._active = True
        self._last: object = _NEVER

    def refresh(self) -> None:
        """Schedule a re-read (cheap, never blocks: safe from kazoo's threads)."""
        with self._lock:
            if self._queued or not self._active:
                return
            self._queued = True
        self._runner.submit(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            self._queued = False
            if not self._active:
                return
        try:
            snapshot = self._read()
        except CoordinatorUnavailable as exc:  # the next CONNECTED refreshes every watch again
            log.debug("watch refresh deferred: %s", exc)
            return
        if snapshot != self._last:
            self._last = snapshot
            self._callback(snapshot)

    def cancel(self) -> None:
        with self._lock:
            self._active = False


_NEVER = object()


def ordered(instances: Iterator[Instance] | list[Instance]) -> list[Instance]:
    """One entry per (region, instance_id) — the newest registration wins — in sorted order."""
    by_key = {(i.region, i.instance_id): i for i in instances}
    return sorted(by_key.values())
