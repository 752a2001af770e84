"""An embedded deployment in one process: every region on SQLite, a router, an in-memory coordinator
and the failover controller — the whole architecture for the demo and tests, minus the processes.

Failure semantics: start() either brings everything up (schemas migrated, ports bound, the router
seeing every region healthy) or stops what it started and raises; stop_region() is a region
outage (its server drains and its coordinator session closes, so its instance vanishes and the
controller fails its shards over); stop() tears everything down and is safe to call twice.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from consistency.memory_coordinator import MemoryCoordinator, MemoryEnsemble
from ordermesh.topology import Topology, Zone, hash_api_key
from region_service.server import RegionConfig, RegionServer, build_server
from region_service.storage.migrate import upgrade
from router.failover import FailoverController, GrpcHealthProbe
from router.server import RouterConfig, RouterServer


def embedded_topology(topology: Topology, workdir: Path) -> Topology:
    """The same topology with one SQLite file per zone in workdir and every endpoint on a free port (0)."""
    zones = {
        name: Zone(
            name,
            f"sqlite:///{workdir / f'{name}.sqlite'}",
            tuple(replace(r, endpoint="127.0.0.1:0") for r in zone.regions),
        )
        for name, zone in topology.zones.items()
    }
    return replace(topology, zones=zones, coordinator="memory")


class EmbeddedCluster:
    """Regions, a router and a failover controller as in-process servers on one background loop."""

    def __init__(
        self, topology: Topology, residency_log: Path, *, detection_s: float = 1.0, **region_options: Any
    ) -> None:
        # Multi-zone pools go region to region over gRPC (PoolPeerService), as between processes: every
        # region gets this cluster's peer key, and finds the others' ports in the coordinator registry.
        self.peer_key = secrets.token_urlsafe(32)
        self.topology = replace(
            topology, peer_key_sha256=topology.peer_key_sha256 | {hash_api_key(self.peer_key)}
        )
        self.residency_log = residency_log
        self.detection_s = detection_s
        self.region_options = region_options
        self.ensemble = MemoryEnsemble()
        self.servers: dict[str, RegionServer] = {}
        self.sessions: dict[str, MemoryCoordinator] = {}
        self.router: RouterServer | None = None
        self.controller: FailoverController | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ordermesh-embedded", daemon=True)

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=60)

    def _session(self, name: str) -> MemoryCoordinator:
        self.sessions[name] = MemoryCoordinator(self.ensemble)
        return self.sessions[name]

    def start(self) -> None:
        for zone in self.topology.zones.values():
            upgrade(zone.database_url)
        self._thread.start()
        try:
            for region in self.topology.regions:
                self.start_region(region.name)
            config = RouterConfig(
                self.topology,
                name="router-1",
                port=0,
                coordinator=self._session("router-1"),
                residency_log=self.residency_log,
                probe_interval_s=0.1,
                grace_s=1.0,
            )
            self.router = RouterServer(config)
            self._run(self.router.start())
            if not self.router.directory.wait_healthy([r.name for r in self.topology.regions], timeout=20):
                raise RuntimeError(f"regions not healthy at the router: {self.router.directory.snapshot()}")
            self.controller = FailoverController(
                self._session("controller-1"),
                self.topology,
                "controller-1",
                detection_s=self.detection_s,
                probe=GrpcHealthProbe(timeout_s=0.3),
            ).start()
        except BaseException:
            self.stop()
            raise

    def start_region(self, name: str) -> None:
        config = RegionConfig(
            self.topology,
            name,
            port=0,
            coordinator=self._session(name),
            peer_key=self.peer_key,
            **self.region_options,
        )
        server = build_server(config)
        self._run(server.start())
        self.servers[name] = server

    def stop_region(self, name: str, grace: float = 1.0) -> None:
        """A region outage: the server drains and stops, its coordinator session ends."""
        self._run(self.servers.pop(name).stop(grace))
        self.sessions.pop(name).close()

    @property
    def router_endpoint(self) -> str:
        assert self.router is not None
        return f"127.0.0.1:{self.router.port}"

    def stop(self, grace: float = 1.0) -> None:
        if not self._thread.is_alive():
            return
        if self.controller is not None:
            self.controller.stop()
        if self.router is not None:
            self._run(self.router.stop(grace))
        for name in list(self.servers):
            self._run(self.servers.pop(name).stop(grace))
        for session in self.sessions.values():
            session.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> EmbeddedCluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextmanager
def embedded_cluster(topology: Topology, workdir: Path, **options: Any) -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(
        embedded_topology(topology, workdir), workdir / "residency.jsonl", **options
    ) as cluster:
        yield cluster
