"""The router's live view of the cluster: shard placements and which regions (and instances) are healthy.

Failure semantics: the view is fed by coordinator watches; while the coordinator is unreachable it
keeps the last snapshot it saw (routing on slightly stale data is safe: a region that is no longer
home answers FENCED and the router moves on). A region is healthy when it has at least one registered
instance whose last health check answered SERVING; instances start unhealthy until first probed, and
an instance the forwarder saw fail is marked unhealthy at once (the next SERVING probe restores it).

Thread-safe: watches write from the coordinator's callback thread, the router's event loop reads.

Usage::

    directory = Directory(topology, coordinator).start()
    snap = directory.snapshot()        # Snapshot(placements, healthy) for router.policy
    endpoint = directory.pick("eu-west")  # round-robin among the region's healthy instances
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from consistency.coordinator import Coordinator, Instance
from ordermesh.shard import Placement, ShardKey
from ordermesh.topology import Topology


@dataclass(frozen=True)
class Snapshot:
    """What the pure policy functions need: placements and the names of healthy regions."""

    placements: Mapping[ShardKey, Placement]
    healthy: frozenset[str]


class Directory:
    def __init__(self, topology: Topology, coordinator: Coordinator) -> None:
        self.topology = topology
        self.coordinator = coordinator
        self._known_regions = {r.name for r in topology.regions}
        self._cond = threading.Condition()
        self._placements: dict[ShardKey, Placement] = {}
        self._instances: list[Instance] = []
        self._serving: dict[str, bool] = {}  # endpoint -> last health answer
        self._turn = itertools.count()
        self._listeners: list[Callable[[], None]] = []
        self._unwatch: list[Callable[[], None]] = []
        self._snapshot = Snapshot({}, frozenset())

    def start(self, timeout: float = 10.0) -> Directory:
        """Reads placements and instances once (CoordinatorError if that fails), then watches both."""
        self._set_placements(self.coordinator.placements(timeout=timeout))
        self._set_instances(self.coordinator.instances(timeout=timeout))
        self._unwatch = [
            self.coordinator.watch_placements(self._set_placements),
            self.coordinator.watch_instances(self._set_instances),
        ]
        return self

    def stop(self) -> None:
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called (from the coordinator's thread; must not block) after the set of instances changes."""
        self._listeners.append(listener)

    # -- reads --------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._cond:
            return self._snapshot

    def instances(self) -> list[Instance]:
        with self._cond:
            return list(self._instances)

    def pick(self, region: str) -> str | None:
        """An endpoint of a healthy instance of `region` (round-robin), or None."""
        with self._cond:
            live = [
                i.endpoint for i in self._instances if i.region == region and self._serving.get(i.endpoint)
            ]
            return live[next(self._turn) % len(live)] if live else None

    def wait_healthy(self, regions: Iterable[str], timeout: float) -> bool:
        """Blocks until all `regions` are healthy (tests, startup); False after `timeout` s."""
        wanted = set(regions)
        with self._cond:
            return self._cond.wait_for(lambda: wanted <= self._snapshot.healthy, timeout)

    def wait_unhealthy(self, regions: Iterable[str], timeout: float) -> bool:
        wanted = set(regions)
        with self._cond:
            return self._cond.wait_for(lambda: not (wanted & self._snapshot.healthy), timeout)

    # -- updates ------------------------------------------------------------------------------------

    def set_serving(self, endpoint: str, serving: bool) -> None:
        """A health answer (prober) or an observed failure (forwarder) for one instance endpoint."""
        with self._cond:
            if not any(i.endpoint == endpoint for i in self._instances):
                return
            if self._serving.get(endpoint) == serving:
                return
            self._serving[endpoint] = serving
            self._publish()

    def _set_placements(self, placements: Mapping[ShardKey, Placement]) -> None:
        with self._cond:
            self._placements = dict(placements)
            self._publish()

    def _set_instances(self, instances: list[Instance]) -> None:
        with self._cond:
            self._instances = [i for i in instances if i.region in self._known_regions]
            endpoints = {i.endpoint for i in self._instances}
            self._serving = {e: s for e, s in self._serving.items() if e in endpoints}
            self._publish()
        for listener in list(self._listeners):
            listener()

    def _publish(self) -> None:
        """Rebuilds the snapshot (caller holds the condition) and wakes waiters."""
        healthy = frozenset(i.region for i in self._instances if self._serving.get(i.endpoint))
        self._snapshot = Snapshot(dict(self._placements), healthy)
        self._cond.notify_all()
