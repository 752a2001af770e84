"""A region instance's membership in the coordinator: its ephemeral registration and its placement view.

Failure semantics: writes are refused (`Fenced`, so a router retries the next region of the zone)
whenever this instance cannot prove it is the shard's home — the placement names another region, the
placement directory is not loaded yet, or the coordinator session is SUSPENDED or LOST. After LOST the
registration is gone with the session; on the next CONNECTED a background thread re-registers and
re-reads the placements, and only then are writes accepted again. The zone database is the final
fence: before a new home writes with epoch N it raises the shard's `shard_epochs` row to N, which
makes every write of the old home (still holding N-1) fail inside its transaction.

Usage::

    membership = Membership(coordinator, topology, "eu-west", runner, clock)
    book = OrderBook(..., placement=membership.placement)
    membership.start("127.0.0.1:7001")   # after the server listens
    membership.stop()                    # first thing on shutdown: routers stop sending calls
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping

from consistency.coordinator import Coordinator, CoordinatorError, SessionState
from ordermesh.clock import Clock
from ordermesh.errors import Fenced
from ordermesh.shard import Placement, ShardKey
from ordermesh.topology import Topology
from region_service.storage import admin
from region_service.storage.transactions import SqlTransactionRunner

log = logging.getLogger(__name__)


class CoordinatedPlacement:
    """PlacementView over the coordinator's placement directory (cluster mode).

    `held_epoch(shard)` is the epoch of the shard's current placement when this region is its home
    (unplaced shards: the zone's first region at epoch 0, as `router.policy.home_region`); otherwise it
    raises Fenced. It is called before a write's transaction starts, so raising aborts the write.
    """

    def __init__(
        self,
        coordinator: Coordinator,
        topology: Topology,
        region: str,
        runner: SqlTransactionRunner,
        clock: Clock,
    ) -> None:
        self.coordinator = coordinator
        self.topology = topology
        self.region = region
        self.zone = topology.region(region).zone
        self.runner = runner
        self.clock = clock
        self._lock = threading.Lock()
        self._placements: dict[ShardKey, Placement] | None = None  # None: not loaded (or stale after LOST)
        self._raised: dict[ShardKey, int] = {}  # epochs this instance has written to shard_epochs

    # -- fed by Membership ------------------------------------------------------------------------

    def update(self, placements: Mapping[ShardKey, Placement] | None) -> None:
        """A new directory snapshot (None: forget it until re-read); raises the DB epoch of new homes."""
        with self._lock:
            self._placements = dict(placements) if placements is not None else None
        for placement in (placements or {}).values():
            if placement.home_region == self.region and placement.epoch > self._raised_epoch(placement.shard):
                try:
                    self._raise_epoch(placement)
                except Exception as exc:  # retried lazily by the next write's held_epoch
                    log.warning(
                        "could not raise epoch of %s to %d: %s", placement.shard, placement.epoch, exc
                    )

    # -- PlacementView ----------------------------------------------------------------------------

    def held_epoch(self, shard: ShardKey) -> int:
        if not self.coordinator.is_writable():
            raise Fenced(
                f"region {self.region}: coordinator session is {self.coordinator.state().value}; not writing",
                {"shard": str(shard), "region": self.region},
            )
        with self._lock:
            placements = self._placements
        if placements is None:
            raise Fenced(
                f"region {self.region}: placement directory not loaded; not writing",
                {"shard": str(shard), "region": self.region},
            )
        placement = placements.get(shard)
        if placement is None:
            home, epoch = self.topology.zones[shard.zone].regions[0].name, 0
        else:
            home, epoch = placement.home_region, placement.epoch
        if home != self.region:
            raise Fenced(
                f"shard {shard} is served by region {home} (epoch {epoch}), not {self.region}",
                {"shard": str(shard), "home_region": home, "epoch": str(epoch), "region": self.region},
            )
        if placement is not None and epoch > self._raised_epoch(shard):
            self._raise_epoch(placement)  # Fenced if the database is already past this epoch
        return epoch

    # -- internals --------------------------------------------------------------------------------

    def _raised_epoch(self, shard: ShardKey) -> int:
        with self._lock:
            return self._raised.get(shard, 0)

    def _raise_epoch(self, placement: Placement) -> None:
        # set_epoch only ever raises (and is a no-op for the same placement), so concurrent callers
        # racing here are harmless; a database already past this epoch answers Fenced.
        admin.set_epoch(self.runner, placement.shard, placement.epoch, self.region, self.clock.now_us())
        with self._lock:
            self._raised[placement.shard] = max(self._raised.get(placement.shard, 0), placement.epoch)
        log.info("region %s is home of %s from epoch %d", self.region, placement.shard, placement.epoch)


class Membership:
    """Registers one region instance (ephemeral) and feeds its CoordinatedPlacement."""

    def __init__(
        self,
        coordinator: Coordinator,
        topology: Topology,
        region: str,
        runner: SqlTransactionRunner,
        clock: Clock,
        instance_id: str | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.region = region
        self.instance_id = instance_id or f"{region}-{uuid.uuid4().hex[:8]}"
        self.placement = CoordinatedPlacement(coordinator, topology, region, runner, clock)
        self.endpoint = ""
        self._unwatch: Callable[[], None] | None = None
        self._lost = False
        self._stopped = threading.Event()

    def start(self, endpoint: str, timeout: float = 10.0) -> None:
        """Loads and watches the placements, then registers `endpoint` (blocking; CoordinatorError)."""
        self.endpoint = endpoint
        self.placement.update(self.coordinator.placements(timeout=timeout))
        self._unwatch = self.coordinator.watch_placements(self.placement.update)
        self.coordinator.add_state_listener(self._on_state)
        self.coordinator.register_instance(self.region, self.instance_id, endpoint, timeout=timeout)
        log.info("instance %s of region %s registered at %s", self.instance_id, self.region, endpoint)

    def stop(self, timeout: float = 2.0) -> None:
        """Deregisters (best effort: the registration dies with the session anyway). Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.coordinator.remove_state_listener(self._on_state)
        if self._unwatch is not None:
            self._unwatch()
        try:
            self.coordinator.deregister_instance(self.region, self.instance_id, timeout=timeout)
        except CoordinatorError as exc:
            log.info("deregistration of %s skipped: %s", self.instance_id, exc)

    def _on_state(self, state: SessionState) -> None:
        # Runs in the coordinator's state-changing thread: must not block, so recovery is a thread.
        if state is SessionState.LOST:
            self._lost = True
            self.placement.update(None)  # what we knew may have changed while we were away
        elif state is SessionState.CONNECTED and self._lost and not self._stopped.is_set():
            self._lost = False
            threading.Thread(target=self._recover, name=f"{self.instance_id}-rejoin", daemon=True).start()

    def _recover(self) -> None:
        """After LOST: re-read placements, re-register; retried until it works or the instance stops."""
        while not self._stopped.is_set():
            try:
                self.placement.update(self.coordinator.placements())
                self.coordinator.register_instance(self.region, self.instance_id, self.endpoint)
                log.info("instance %s re-registered after a lost session", self.instance_id)
                return
            except CoordinatorError as exc:
                log.warning("re-registration of %s failed, retrying: %s", self.instance_id, exc)
                self._stopped.wait(0.5)
