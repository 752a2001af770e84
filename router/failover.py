"""The failover controller: one elected leader moves a dead region's shards to the next region of its zone.

Failure semantics: only the leader of the election "failover" acts, and only while its coordinator
session is CONNECTED; on SUSPENDED it pauses, on LOST it steps down and campaigns again on the next
session. Every move is a compare-and-set on the shard's epoch (`set_placement(..., expected_epoch)`), so
two controllers that both believe they lead cannot move a shard twice: the loser gets PlacementConflict
and re-plans from what it reads. The zone database fences the old home (the new home raises the epoch).

Detection: a region is live while at least one registered instance (an ephemeral node) answers its gRPC
health check SERVING; it is dead after `detection_s` without being live. A killed process refuses the
probe at once, a paused one times out, and a lost coordinator session deletes its node — whichever comes
first. RTO budget with defaults: detection_s (1.5 s) + one tick (0.2 s) + CAS and the routers' placement
watch (~0.1 s) ≈ 2 s; without probes (`probe=None`) add the regions' ZooKeeper session timeout.

Usage::

    controller = FailoverController(coordinator, topology, "controller-1")
    controller.start()
    ...
    controller.stop()
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from consistency.coordinator import (
    Coordinator,
    CoordinatorError,
    CoordinatorUnavailable,
    Election,
    Instance,
    PlacementConflict,
    SessionState,
)
from ordermesh.client import RECONNECT_OPTIONS
from ordermesh.errors import InvalidArgument, NotLeader
from ordermesh.shard import Placement
from ordermesh.topology import Topology
from router.failover_policy import Move, all_shards, plan_drain, plan_failback, plan_failover

log = logging.getLogger(__name__)
ELECTION = "failover"
Probe = Callable[[Collection[str]], set[str]]  # endpoints -> the ones answering SERVING


@dataclass(frozen=True)
class AppliedMove:
    """A planned move and its outcome: the new placement, or why it was not applied."""

    move: Move
    placement: Placement | None
    error: str = ""


@dataclass(frozen=True)
class RegionStatus:
    region: str
    zone: str
    instances: int
    live: bool
    dead: bool
    drained: bool


class FailoverController:
    """Campaigns, watches instances, probes them, and moves shards off dead or drained regions."""

    def __init__(
        self,
        coordinator: Coordinator,
        topology: Topology,
        identifier: str,
        *,
        detection_s: float = 1.5,
        interval_s: float = 0.2,
        probe: Probe | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.coordinator = coordinator
        self.topology = topology
        self.identifier = identifier
        self.detection_s = detection_s
        self.interval_s = interval_s
        self.probe = probe
        self.clock = clock
        self.shards = all_shards(topology)
        self._regions = [r.name for r in topology.regions]
        self._last_live: dict[str, float] = {}
        self._instances: list[Instance] = []
        self._election: Election | None = None
        self._leading = False
        self._act = threading.RLock()  # one planner at a time: the loop or an admin call
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"failover-{identifier}", daemon=True)
        self._unwatch: Callable[[], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FailoverController:
        self.coordinator.add_state_listener(self._on_state)
        self._unwatch = self.coordinator.watch_instances(self._on_instances)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5.0)
        self.coordinator.remove_state_listener(self._on_state)
        if self._unwatch is not None:
            self._unwatch()
        if self._election is not None:
            with contextlib.suppress(CoordinatorError):  # the candidacy dies with the session anyway
                self._election.resign()

    def is_leader(self) -> bool:
        return self._election is not None and self._election.is_leader()

    def _on_state(self, state: SessionState) -> None:
        if state is SessionState.LOST:  # the candidacy is gone with the session: step down at once
            self._leading = False
            self._election = None
        self._wake.set()

    def _on_instances(self, instances: list[Instance]) -> None:
        self._instances = instances
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                self.tick()
            except CoordinatorError as exc:
                log.info("failover tick skipped: %s", exc)
            except Exception:
                log.exception("failover tick failed")
            self._wake.wait(self.interval_s)
            self._wake.clear()

    # -- the control loop --------------------------------------------------------------------------

    def tick(self) -> list[AppliedMove]:
        """One round: campaign if needed; as leader, detect dead regions and move their shards."""
        if self.coordinator.state() is not SessionState.CONNECTED:
            return []
        if self._election is None:
            self._election = self.coordinator.election(ELECTION, self.identifier)
        self._election.campaign()
        if not self._election.is_leader():
            self._leading = False
            return []
        now = self.clock()
        if not self._leading:  # a new leader gives every region one detection window to show up
            self._leading = True
            self._last_live = dict.fromkeys(self._regions, now)
            log.info("%s leads the failover election", self.identifier)
        with self._act:
            live = self.live_regions()
            for region in live:
                self._last_live[region] = now
            dead = self.dead_regions(now)
            placements = self.coordinator.placements()
            drained = self.drained
            moves = plan_failover(self.topology, placements, live - drained, self.shards)
            moves = [m for m in moves if m.from_region in dead or m.from_region in drained]
            if moves:
                log.warning("regions dead: %s; moving %d shards", sorted(dead), len(moves))
            return self._apply(moves)

    def live_regions(self) -> set[str]:
        """Regions with a registered instance that (when probing) answers SERVING."""
        instances = self._instances
        if self.probe is None:
            return {i.region for i in instances}
        serving = self.probe({i.endpoint for i in instances})
        return {i.region for i in instances if i.endpoint in serving}

    def dead_regions(self, now: float | None = None) -> set[str]:
        now = self.clock() if now is None else now
        return {r for r in self._regions if now - self._last_live.get(r, now) >= self.detection_s}

    def _apply(self, moves: list[Move]) -> list[AppliedMove]:
        done: list[AppliedMove] = []
        for move in moves:
            if not self.is_leader():  # lost leadership mid-way: the new leader re-plans
                done.append(AppliedMove(move, None, "not leader"))
                continue
            try:
                placement = self.coordinator.set_placement(move.shard, move.to_region, move.expected_epoch)
                log.warning(
                    "moved %s: %s -> %s at epoch %d",
                    move.shard,
                    move.from_region,
                    move.to_region,
                    placement.epoch,
                )
                done.append(AppliedMove(move, placement))
            except PlacementConflict as exc:  # someone moved it first: re-plan on the next tick
                done.append(AppliedMove(move, None, str(exc)))
            except CoordinatorUnavailable as exc:  # outcome unknown: the next tick re-reads
                done.append(AppliedMove(move, None, str(exc)))
        return done

    # -- manual operations (admin service) ---------------------------------------------------------

    def _require_leader(self) -> None:
        if not self.is_leader():
            try:
                leader = self.coordinator.leader(ELECTION) or ""
            except CoordinatorError:
                leader = ""
            raise NotLeader(f"{self.identifier} is not the failover leader", {"leader": leader})

    def _region(self, region: str) -> str:
        if region not in self._regions:
            raise InvalidArgument.single("region", f"no region {region!r} in the topology")
        return region

    @property
    def drained(self) -> frozenset[str]:
        """Drained regions, as the coordinator keeps them: a new leader inherits its predecessor's."""
        return self.coordinator.drained_regions()

    def failover(self, region: str) -> list[AppliedMove]:
        """Move every shard off `region` now, as if it were dead (one shot: it may get shards again)."""
        self._region(region)
        with self._act:
            self._require_leader()
            healthy = self.live_regions() - self.drained - {region}
            moves = plan_failover(self.topology, self.coordinator.placements(), healthy, self.shards)
            return self._apply([m for m in moves if m.from_region == region])

    def drain(self, region: str) -> list[AppliedMove]:
        """Move every shard off `region` and keep it off (no failover target) until a failback."""
        self._region(region)
        with self._act:
            self._require_leader()
            self.coordinator.set_drained(region, True)
            healthy = self.live_regions() - self.drained
            moves = plan_drain(self.topology, self.coordinator.placements(), region, self.shards, healthy)
            return self._apply(moves)

    def failback(self, region: str | None = None) -> list[AppliedMove]:
        """Undrain, then move shards to their preferred home (or every shard of the zone to `region`)."""
        if region is not None:
            self._region(region)
        with self._act:
            self._require_leader()
            for undrained in self.drained if region is None else {region}:
                self.coordinator.set_drained(undrained, False)
            healthy = self.live_regions() - self.drained
            placements = self.coordinator.placements()
            return self._apply(plan_failback(self.topology, placements, healthy, self.shards, region))

    def status(self) -> list[RegionStatus]:
        live = self.live_regions()
        dead = self.dead_regions() if self._leading else set()
        drained = self.drained
        counts = {r: 0 for r in self._regions}
        for instance in self._instances:
            counts[instance.region] = counts.get(instance.region, 0) + 1
        return [
            RegionStatus(r.name, r.zone, counts[r.name], r.name in live, r.name in dead, r.name in drained)
            for r in self.topology.regions
        ]


class GrpcHealthProbe:
    """Probes instances' standard gRPC health service in parallel, each call bounded by `timeout_s`.

    A refused connection, a timeout or anything but SERVING counts as "not serving"; channels are kept
    per endpoint so that a probe costs one RPC, not a TCP handshake.
    """

    def __init__(self, timeout_s: float = 0.5, workers: int = 8) -> None:
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health-probe")
        self._channels: dict[str, grpc.Channel] = {}

    def __call__(self, endpoints: Collection[str]) -> set[str]:
        futures = {self._pool.submit(self._serving, e): e for e in endpoints}
        wait(futures, timeout=self.timeout_s * 2)
        return {e for f, e in futures.items() if f.done() and not f.exception() and f.result()}

    def _serving(self, endpoint: str) -> bool:
        channel = self._channels.get(endpoint)
        if channel is None:
            # Short reconnect backoff: a restarted region should look live within a tick or two.
            options = [("grpc.so_reuseport", 0), *RECONNECT_OPTIONS]
            channel = self._channels[endpoint] = grpc.insecure_channel(endpoint, options=options)
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=self.timeout_s)
        except grpc.RpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for channel in self._channels.values():
            channel.close()
