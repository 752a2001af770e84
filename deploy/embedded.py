"""An embedded deployment in one process: every region of a topology served on SQLite, for the demo and tests.

Failure semantics: start() either brings every region up (schema migrated, port bound) or stops the
ones it started and raises; stop() drains every region gracefully and is safe to call twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ordermesh.topology import Region, Topology, Zone
from region_service.server import RegionConfig, RegionServer, build_server
from region_service.storage.migrate import upgrade


def embedded_topology(topology: Topology, workdir: Path) -> Topology:
    """The same topology with one SQLite file per zone in workdir and every endpoint on a free port (0)."""
    zones = {
        name: Zone(
            name,
            f"sqlite:///{workdir / f'{name}.sqlite'}",
            tuple(Region(r.name, r.zone, "127.0.0.1:0") for r in zone.regions),
        )
        for name, zone in topology.zones.items()
    }
    return replace(topology, zones=zones, coordinator="memory")


class EmbeddedCluster:
    """All regions of a topology as in-process gRPC servers on one background event loop."""

    def __init__(self, topology: Topology, **region_options: Any) -> None:
        self.topology = topology
        self.region_options = region_options
        self.servers: dict[str, RegionServer] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ordermesh-embedded", daemon=True)

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=60)

    def start(self) -> None:
        for zone in self.topology.zones.values():
            upgrade(zone.database_url)
        self._thread.start()
        try:
            for region in self.topology.regions:
                config = RegionConfig(self.topology, region.name, port=0, **self.region_options)
                server = build_server(config)
                self._run(server.start())
                self.servers[region.name] = server
        except BaseException:
            self.stop()
            raise

    def endpoint(self, region: str) -> str:
        return f"127.0.0.1:{self.servers[region].port}"

    @property
    def endpoints(self) -> dict[str, str]:
        return {name: self.endpoint(name) for name in self.servers}

    def stop(self, grace: float = 2.0) -> None:
        if not self._thread.is_alive():
            return
        for name in list(self.servers):
            self._run(self.servers.pop(name).stop(grace))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> EmbeddedCluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextmanager
def embedded_cluster(topology: Topology, workdir: Path, **region_options: Any) -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(embedded_topology(topology, workdir), **region_options) as cluster:
        yield cluster
