"""In-memory coordinator: the embedded default, with the same contract as the ZooKeeper backend.

Failure semantics: there is no network, so failures are injected: `suspend_session()` /
`resume_session()` (calls raise CoordinatorUnavailable meanwhile; ephemerals survive) and
`expire_session()` (LOST: this client's instances, candidacies and locks vanish, then a new session
starts CONNECTED, as kazoo does). Several clients share one `MemoryEnsemble`, like one ZooKeeper.

Usage::

    ensemble = MemoryEnsemble()
    a, b = MemoryCoordinator(ensemble), MemoryCoordinator(ensemble)
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from consistency.coordinator import (
    CallbackThread,
    CoordinatorUnavailable,
    ElectionTimeout,
    FencingToken,
    Instance,
    InstancesCallback,
    LockTimeout,
    PlacementConflict,
    PlacementsCallback,
    SessionState,
    SnapshotWatch,
    StateListener,
    Unwatch,
    check_name,
    ordered,
)
from ordermesh.shard import Placement, ShardKey

T = TypeVar("T")


@dataclass
class MemoryEnsemble:
    """The shared state that several MemoryCoordinator clients see, as if one ZooKeeper ensemble."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    live_sessions: set[int] = field(default_factory=set)
    instances: dict[int, tuple[int, Instance]] = field(default_factory=dict)  # seq -> (session, instance)
    placements: dict[ShardKey, Placement] = field(default_factory=dict)
    drained: set[str] = field(default_factory=set)
    candidates: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)  # [(seq, session, id)]
    locks: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (session, seq)
    tokens: dict[str, int] = field(default_factory=dict)
    clients: weakref.WeakSet[MemoryCoordinator] = field(default_factory=weakref.WeakSet)

    def open_session(self) -> int:
        session = next(self.seq)
        self.live_sessions.add(session)
        return session

    def end_session(self, session: int) -> None:
        """Drop everything ephemeral of `session` (caller holds `cond`)."""
        self.live_sessions.discard(session)
        self.instances = {k: v for k, v in self.instances.items() if v[0] != session}
        for name, cands in self.candidates.items():
            self.candidates[name] = [c for c in cands if c[1] != session]
        self.locks = {k: v for k, v in self.locks.items() if v[0] != session}
        self.cond.notify_all()
        self.changed("instances")

    def changed(self, what: str) -> None:
        for client in list(self.clients):
            client._changed(what)


class MemoryCoordinator:
    """One client of a MemoryEnsemble; thread-safe."""

    def __init__(self, ensemble: MemoryEnsemble | None = None) -> None:
        self.ensemble = ensemble or MemoryEnsemble()
        self._state = SessionState.CONNECTED
        self._closed = False
        self._listeners: list[StateListener] = []
        self._watches: dict[str, list[SnapshotWatch[object]]] = {"instances": [], "placements": []}
        self._runner = CallbackThread("memory-coordinator-callbacks")
        with self.ensemble.cond:
            self._session = self.ensemble.open_session()
            self.ensemble.clients.add(self)

    # -- session
    def state(self) -> SessionState:
        return self._state

    def is_writable(self) -> bool:
        return self._state is SessionState.CONNECTED

    def add_state_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def remove_state_listener(self, listener: StateListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify_state(self, state: SessionState) -> None:
        for listener in list(self._listeners):
            listener(state)
        if state is SessionState.CONNECTED:
            for watches in self._watches.values():
                for watch in watches:
                    watch.refresh()

    def _require(self) -> int:
        """The live session id; caller holds `cond`."""
        if self._state is not SessionState.CONNECTED or self._session not in self.ensemble.live_sessions:
            raise CoordinatorUnavailable(f"coordinator session is {self._state.value}")
        return self._session

    def suspend_session(self) -> None:
        """Fault injection: the connection is gone, the session is not (yet)."""
        self._state = SessionState.SUSPENDED
        self._notify_state(SessionState.SUSPENDED)

    def resume_session(self) -> None:
        self._state = SessionState.CONNECTED
        self._notify_state(SessionState.CONNECTED)

    def expire_session(self, timeout: float = 10.0) -> None:
        with self.ensemble.cond:
            self.ensemble.end_session(self._session)
            self._state = SessionState.LOST
        self._notify_state(SessionState.LOST)
        with self.ensemble.cond:
            self._session = self.ensemble.open_session()
            self._state = SessionState.CONNECTED
        self._notify_state(SessionState.CONNECTED)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self.ensemble.cond:
            self.ensemble.clients.discard(self)
            self.ensemble.end_session(self._session)
            self._state = SessionState.LOST
        self._notify_state(SessionState.LOST)
        self._runner.stop()

    # -- watches
    def _changed(self, what: str) -> None:
        for watch in self._watches[what]:
            watch.refresh()

    def _watch(self, what: str, read: Callable[[], T], callback: Callable[[T], None]) -> Unwatch:
        watch: SnapshotWatch[T] = SnapshotWatch(read, callback, self._runner)
        self._watches[what].append(watch)  # type: ignore[arg-type]
        watch.refresh()

        def unwatch() -> None:
            watch.cancel()
            if watch in self._watches[what]:
                self._watches[what].remove(watch)  # type: ignore[arg-type]

        return unwatch

    # -- instance registry
    def register_instance(
        self, region: str, instance_id: str, endpoint: str, *, timeout: float | None = None
    ) -> Instance:
        instance = Instance(check_name("region", region), check_name("instance", instance_id), endpoint)
        with self.ensemble.cond:
            session = self._require()
            self._drop_instance(session, region, instance_id)
            self.ensemble.instances[next(self.ensemble.seq)] = (session, instance)
            self.ensemble.changed("instances")
        return instance

    def _drop_instance(self, session: int, region: str, instance_id: str) -> None:
        mine = [
            k
            for k, (s, i) in self.ensemble.instances.items()
            if s == session and (i.region, i.instance_id) == (region, instance_id)
        ]
        for key in mine:
            del self.ensemble.instances[key]

    def deregister_instance(self, region: str, instance_id: str, *, timeout: float | None = None) -> None:
        with self.ensemble.cond:
            self._drop_instance(self._require(), region, instance_id)
            self.ensemble.changed("instances")

    def instances(self, region: str | None = None, *, timeout: float | None = None) -> list[Instance]:
        with self.ensemble.cond:
            self._require()
            found = [i for _, (_, i) in sorted(self.ensemble.instances.items())]
        return [i for i in ordered(found) if region is None or i.region == region]

    def watch_instances(self, callback: InstancesCallback) -> Unwatch:
        return self._watch("instances", self.instances, callback)

    # -- placement directory
    def placement(self, shard: ShardKey, *, timeout: float | None = None) -> Placement | None:
        with self.ensemble.cond:
            self._require()
            return self.ensemble.placements.get(shard)

    def placements(self, *, timeout: float | None = None) -> dict[ShardKey, Placement]:
        with self.ensemble.cond:
            self._require()
            return dict(self.ensemble.placements)

    def drained_regions(self, *, timeout: float | None = None) -> frozenset[str]:
        with self.ensemble.cond:
            self._require()
            return frozenset(self.ensemble.drained)

    def set_drained(self, region: str, drained: bool, *, timeout: float | None = None) -> None:
        check_name("region", region)
        with self.ensemble.cond:
            self._require()
            (self.ensemble.drained.add if drained else self.ensemble.drained.discard)(region)

    def set_placement(
        self, shard: ShardKey, home_region: str, expected_epoch: int | None, *, timeout: float | None = None
    ) -> Placement:
        check_name("region", home_region)
        with self.ensemble.cond:
            self._require()
            current = self.ensemble.placements.get(shard)
            if (current.epoch if current else None) != expected_epoch:
                raise PlacementConflict(shard, expected_epoch, current)
            placement = Placement(shard, home_region, (expected_epoch or 0) + 1)
            self.ensemble.placements[shard] = placement
            self.ensemble.changed("placements")
        return placement

    def watch_placements(self, callback: PlacementsCallback) -> Unwatch:
        return self._watch("placements", self.placements, callback)

    # -- leader election
    def election(self, name: str, identifier: str) -> MemoryElection:
        return MemoryElection(self, check_name("election", name), identifier)

    def leader(self, name: str, *, timeout: float | None = None) -> str | None:
        with self.ensemble.cond:
            self._require()
            cands = self.ensemble.candidates.get(name)
            return cands[0][2] if cands else None

    # -- locks with fencing tokens
    @contextmanager
    def lock(self, name: str, holder: str, timeout: float) -> Iterator[FencingToken]:
        check_name("lock", name)
        ens = self.ensemble
        with ens.cond:
            session = self._require()
            free = ens.cond.wait_for(
                lambda: name not in ens.locks or session not in ens.live_sessions, timeout
            )
            self._require()
            if not free:
                raise LockTimeout(name, timeout)
            mark = next(ens.seq)
            ens.locks[name] = (session, mark)
            ens.tokens[name] = ens.tokens.get(name, 0) + 1
            token = FencingToken(ens.tokens[name])
        try:
            yield token
        finally:
            with ens.cond:
                if ens.locks.get(name) == (session, mark):
                    del ens.locks[name]
                    ens.cond.notify_all()

    def current_token(self, name: str, *, timeout: float | None = None) -> FencingToken:
        with self.ensemble.cond:
            self._require()
            return FencingToken(self.ensemble.tokens.get(name, 0))


class MemoryElection:
    """A candidacy in an in-memory election: lowest sequence number leads."""

    def __init__(self, coordinator: MemoryCoordinator, name: str, identifier: str) -> None:
        self.name = name
        self.identifier = identifier
        self._coordinator = coordinator
        self._ensemble = coordinator.ensemble
        self._seq: int | None = None

    def _candidacy(self) -> list[tuple[int, int, str]]:
        return [c for c in self._ensemble.candidates.get(self.name, []) if c[0] == self._seq]

    def _leads(self) -> bool:
        cands = self._ensemble.candidates.get(self.name)
        return cands is not None and len(cands) > 0 and cands[0][0] == self._seq

    def campaign(self) -> None:
        with self._ensemble.cond:
            session = self._coordinator._require()
            if self._candidacy():
                return
            self._seq = next(self._ensemble.seq)
            self._ensemble.candidates.setdefault(self.name, []).append((self._seq, session, self.identifier))
            self._ensemble.cond.notify_all()

    def is_leader(self) -> bool:
        with self._ensemble.cond:
            return self._coordinator.is_writable() and self._leads()

    def wait_until_leader(self, timeout: float) -> bool:
        self.campaign()
        with self._ensemble.cond:
            self._ensemble.cond.wait_for(lambda: self._leads() or not self._candidacy(), timeout)
        return self.is_leader()

    def resign(self) -> None:
        with self._ensemble.cond:
            cands = self._ensemble.candidates.get(self.name, [])
            self._ensemble.candidates[self.name] = [c for c in cands if c[0] != self._seq]
            self._seq = None
            self._ensemble.cond.notify_all()

    def run(self, func: Callable[[], T], timeout: float) -> T:
        if not self.wait_until_leader(timeout):
            self.resign()
            raise ElectionTimeout(f"{self.identifier} did not win {self.name!r} within {timeout}s")
        try:
            return func()
        finally:
            self.resign()
