"""ZooKeeper coordinator (kazoo): instance registry, placement directory, elections and fenced locks.

Failure semantics: calls fail fast with CoordinatorUnavailable unless CONNECTED, and every request waits
at most its timeout (a timed-out mutation may still be applied: re-read). kazoo SUSPENDED/LOST map to
ours; on LOST every ephemeral of the old session (instances, candidacies, locks) is gone, and kazoo opens
a new session by itself — callers re-register when they see CONNECTED after LOST.

Layout under `root` (default /ordermesh)::

    instances/<region>~<instance_id>~<seq>     ephemeral+sequential, JSON {region, instance_id, endpoint}
    placements/<tenant>/<zone>/<bucket>        JSON {home_region, epoch}; CAS on the znode version
    elections/<name>/<uuid>-n_<seq>            ephemeral+sequential, data = identifier
    locks/<name>/holders/…, locks/<name>/token kazoo Lock; token's mzxid is the fencing token
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from consistency.coordinator import (
    CallbackThread,
    CoordinatorUnavailable,
    FencingToken,
    Instance,
    InstancesCallback,
    PlacementsCallback,
    SessionState,
    SnapshotWatch,
    StateListener,
    Unwatch,
    check_name,
    ordered,
)
from consistency.zk_election import ZkElection
from consistency.zk_lock import ZkFencedLock
from consistency.zk_placements import ZkPlacementDirectory
from ordermesh.shard import Placement, ShardKey

log = logging.getLogger(__name__)
T = TypeVar("T")

_UNAVAILABLE = (ConnectionLoss, SessionExpiredError, ConnectionClosedError, KazooTimeoutError)
_STATES: dict[str, SessionState] = {
    KazooState.CONNECTED: SessionState.CONNECTED,
    KazooState.SUSPENDED: SessionState.SUSPENDED,
    KazooState.LOST: SessionState.LOST,
}


class ZkCoordinator:
    """The ZooKeeper backend of the coordinator contract; `start()` it (or use `with`)."""

    def __init__(
        self, hosts: str, *, session_timeout: float = 10.0, op_timeout: float = 5.0, root: str = "/ordermesh"
    ) -> None:
        self.hosts = hosts
        self.root = root.rstrip("/")
        self.session_timeout = session_timeout
        self.op_timeout = op_timeout
        self._client = KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            # Reconnect quickly (kazoo's default backs off to 60 s, longer than a session lives).
            connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0),
            command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0, deadline=op_timeout),
        )
        self._state = SessionState.LOST
        self._listeners: list[StateListener] = []
        self._watches: dict[str, list[SnapshotWatch[Any]]] = {"instances": [], "placements": []}
        self._fired = {what: self._fire(what) for what in self._watches}  # one object: kazoo dedups it
        self._elections: weakref.WeakSet[ZkElection] = weakref.WeakSet()
        self._registered: dict[tuple[str, str], str] = {}
        self._runner = CallbackThread("zk-coordinator-callbacks")
        self._directory = ZkPlacementDirectory(self, self._client, f"{self.root}/placements")
        self._closed = False
        self._client.add_listener(self._on_kazoo_state)

    def start(self, timeout: float = 10.0) -> ZkCoordinator:
        """Open the session and create the layout; CoordinatorUnavailable if that takes over `timeout` s."""
        deadline = time.monotonic() + timeout
        try:
            self._client.start(timeout=timeout)
        except KazooTimeoutError as exc:
            self._client.stop()
            raise CoordinatorUnavailable(f"no ZooKeeper session with {self.hosts} within {timeout}s") from exc
        # kazoo returns from start() before it has told its listeners (us) about CONNECTED.
        while self._state is not SessionState.CONNECTED and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            for part in ("instances", "placements", "elections", "locks", "drained"):
                self.call(self._client.ensure_path_async, f"{self.root}/{part}", timeout=timeout)
        except CoordinatorUnavailable:
            self._client.stop()
            raise
        return self

    def __enter__(self) -> ZkCoordinator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def _on_kazoo_state(self, kazoo_state: str) -> None:
        # Runs on kazoo's connection thread: must not block, so ZooKeeper reads go to our runner.
        state = _STATES[kazoo_state]
        self._state = state
        if state is SessionState.LOST:
            self._registered.clear()
        for election in list(self._elections):
            election.session_changed(state)
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("coordinator state listener failed")
        if state is SessionState.CONNECTED:
            for watches in self._watches.values():
                for watch in watches:
                    watch.refresh()

    def expire_session(self, timeout: float = 10.0) -> None:
        """Expire our session for real: a second client takes it over and closes it (kazoo's test trick)."""
        lost = threading.Event()

        def on_state(state: SessionState) -> None:
            if state is SessionState.LOST:
                lost.set()

        self.add_state_listener(on_state)
        try:
            other = KazooClient(
                hosts=self.hosts, client_id=self._client.client_id, timeout=self.session_timeout
            )
            try:
                other.start(timeout=timeout)
            finally:
                other.stop()
                other.close()
            if not lost.wait(timeout):
                raise CoordinatorUnavailable(f"session did not report LOST within {timeout}s")
        finally:
            self.remove_state_listener(on_state)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.stop()  # closes the session: the server drops our ephemerals at once
        self._client.close()
        self._runner.stop()

    # -- requests
    def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Run one kazoo *_async request and wait at most `timeout` (default op_timeout) for it."""
        if self._state is not SessionState.CONNECTED:
            raise CoordinatorUnavailable(f"coordinator session is {self._state.value}")
        try:
            return fn(*args, **kwargs).get(timeout=self.op_timeout if timeout is None else timeout)
        except _UNAVAILABLE as exc:
            raise CoordinatorUnavailable(f"ZooKeeper request failed: {type(exc).__name__} {exc}") from exc

    def gather(
        self, requests: list[tuple[Callable[..., Any], tuple[Any, ...]]], deadline: float
    ) -> list[Any]:
        """Send requests together, then collect: one round trip, not one per node; NoNode -> None."""
        if self._state is not SessionState.CONNECTED:
            raise CoordinatorUnavailable(f"coordinator session is {self._state.value}")
        try:
            pending = [fn(*args) for fn, args in requests]
            results: list[Any] = []
            for result in pending:
                try:
                    results.append(result.get(timeout=max(0.0, deadline - time.monotonic())))
                except NoNodeError:
                    results.append(None)
            return results
        except _UNAVAILABLE as exc:
            raise CoordinatorUnavailable(f"ZooKeeper request failed: {type(exc).__name__} {exc}") from exc

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.op_timeout if timeout is None else timeout)

    def _fire(self, what: str) -> Callable[[Any], None]:
        def fired(event: Any) -> None:  # kazoo watch: one-shot, re-armed by the next read
            for watch in list(self._watches[what]):
                watch.refresh()

        return fired

    def _watch(self, what: str, read: Callable[[], T], callback: Callable[[T], None]) -> Unwatch:
        watch: SnapshotWatch[T] = SnapshotWatch(read, callback, self._runner)
        self._watches[what].append(watch)
        watch.refresh()

        def unwatch() -> None:
            watch.cancel()
            if watch in self._watches[what]:
                self._watches[what].remove(watch)

        return unwatch

    # -- instance registry
    def register_instance(
        self, region: str, instance_id: str, endpoint: str, *, timeout: float | None = None
    ) -> Instance:
        instance = Instance(check_name("region", region), check_name("instance", instance_id), endpoint)
        data = json.dumps({"region": region, "instance_id": instance_id, "endpoint": endpoint}).encode()
        # Sequential: a re-registration never collides with the node of an old session that has not
        # expired yet; readers keep the newest node per (region, instance_id).
        path = self.call(
            self._client.create_async,
            f"{self.root}/instances/{region}~{instance_id}~",
            data,
            ephemeral=True,
            sequence=True,
            timeout=timeout,
        )
        previous = self._registered.get((region, instance_id))
        self._registered[(region, instance_id)] = path
        if previous:
            self._delete_quietly(previous, timeout)
        return instance

    def _delete_quietly(self, path: str, timeout: float | None) -> None:
        with suppress(NoNodeError, CoordinatorUnavailable):  # gone already, or it goes with our session
            self.call(self._client.delete_async, path, timeout=timeout)

    def deregister_instance(self, region: str, instance_id: str, *, timeout: float | None = None) -> None:
        path = self._registered.pop((region, instance_id), None)
        if path:
            self.call(self._client.delete_async, path, timeout=timeout)

    def _read_instances(self, watch: bool, timeout: float | None = None) -> list[Instance]:
        deadline = self._deadline(timeout)
        folder = f"{self.root}/instances"
        children = self.call(
            self._client.get_children_async,
            folder,
            self._fired["instances"] if watch else None,
            timeout=timeout,
        )
        children.sort(key=lambda name: int(name.rsplit("~", 1)[1]))
        found = self.gather([(self._client.get_async, (f"{folder}/{c}",)) for c in children], deadline)
        return ordered([Instance(**json.loads(r[0])) for r in found if r is not None])

    def instances(self, region: str | None = None, *, timeout: float | None = None) -> list[Instance]:
        return [i for i in self._read_instances(False, timeout) if region is None or i.region == region]

    def watch_instances(self, callback: InstancesCallback) -> Unwatch:
        return self._watch("instances", lambda: self._read_instances(True), callback)

    # -- placement directory (see zk_placements)
    def placement(self, shard: ShardKey, *, timeout: float | None = None) -> Placement | None:
        return self._directory.placement(shard, timeout)

    def placements(self, *, timeout: float | None = None) -> dict[ShardKey, Placement]:
        return self._directory.read(None, self._deadline(timeout))

    def set_placement(
        self, shard: ShardKey, home_region: str, expected_epoch: int | None, *, timeout: float | None = None
    ) -> Placement:
        return self._directory.set(shard, home_region, expected_epoch, self._deadline(timeout))

    def watch_placements(self, callback: PlacementsCallback) -> Unwatch:
        fired = self._fired["placements"]
        return self._watch("placements", lambda: self._directory.read(fired, self._deadline(None)), callback)

    # -- drained regions: one persistent znode per drained region under <root>/drained
    def drained_regions(self, *, timeout: float | None = None) -> frozenset[str]:
        return frozenset(self.call(self._client.get_children_async, f"{self.root}/drained", timeout=timeout))

    def set_drained(self, region: str, drained: bool, *, timeout: float | None = None) -> None:
        path = f"{self.root}/drained/{check_name('region', region)}"
        try:
            if drained:
                self.call(self._client.create_async, path, b"", timeout=timeout)
            else:
                self.call(self._client.delete_async, path, timeout=timeout)
        except (NodeExistsError, NoNodeError):
            pass  # already as asked

    # -- leader election
    def election(self, name: str, identifier: str) -> ZkElection:
        election = ZkElection(
            self, self._client, f"{self.root}/elections/{check_name('election', name)}", name, identifier
        )
        self._elections.add(election)
        return election

    def leader(self, name: str, *, timeout: float | None = None) -> str | None:
        folder = f"{self.root}/elections/{check_name('election', name)}"
        return ZkElection.leader_of(self, self._client, folder, self._deadline(timeout))

    # -- locks with fencing tokens
    def lock(self, name: str, holder: str, timeout: float) -> ZkFencedLock:
        folder = f"{self.root}/locks/{check_name('lock', name)}"
        return ZkFencedLock(self, self._client, folder, name, holder, timeout)

    def current_token(self, name: str, *, timeout: float | None = None) -> FencingToken:
        folder = f"{self.root}/locks/{check_name('lock', name)}"
        return ZkFencedLock.current_token(self, self._client, folder, timeout)
