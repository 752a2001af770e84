"""Test harness for routers: 2 zones x 2 regions served in-process, a router in front, one coordinator."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consistency.coordinator import Coordinator
from consistency.memory_coordinator import MemoryCoordinator, MemoryEnsemble
from ordermesh.topology import Topology, hash_api_key, parse_topology
from region_service.server import RegionConfig
from region_service.storage import migrate
from router.server import RouterConfig, RouterServer
from tests.integration.region_harness import ACME_KEY, RegionThread

EU_ONLY_KEY = "euonly-test-key-5d4c3b2a19087f6e"
ZONE_REGIONS = {"eu": ("eu-west", "eu-central"), "us": ("us-east", "us-west")}


def router_topology(eu_url: str, us_url: str, coordinator: str = "memory") -> Topology:
    """Zones eu (DE, FR) and us (US), two regions each (the first is the default home)."""
    zones: dict[str, Any] = {}
    port = 17300
    for zone, regions in ZONE_REGIONS.items():
        zones[zone] = {"database": eu_url if zone == "eu" else us_url, "regions": {}}
        for region in regions:
            port += 1
            zones[zone]["regions"][region] = {"endpoint": f"127.0.0.1:{port}"}
    return parse_topology(
        {
            "name": "router-test",
            "buckets_per_zone": 4,
            "coordinator": coordinator,
            "zones": zones,
            "residency": {"countries": {"DE": "eu", "FR": "eu", "US": "us"}},
            "tenants": {
                "acme": {"zones": ["eu", "us"], "api_key_sha256": [hash_api_key(ACME_KEY)]},
                "euonly": {"zones": ["eu"], "api_key_sha256": [hash_api_key(EU_ONLY_KEY)]},
            },
        }
    )


class LoopThread:
    """An asyncio loop in a daemon thread, for servers that sync test code talks to."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@dataclass
class Cluster:
    topology: Topology
    new_coordinator: Callable[[], Coordinator]
    tmp: Path
    regions: dict[str, RegionThread] = field(default_factory=dict)
    coordinators: dict[str, Coordinator] = field(default_factory=dict)  # per region, plus "router", "admin"
    router: RouterServer | None = None
    router_loop: LoopThread | None = None

    @property
    def admin(self) -> Coordinator:
        return self.coordinators["admin"]

    @property
    def router_target(self) -> str:
        assert self.router is not None
        return f"127.0.0.1:{self.router.port}"

    @property
    def log_path(self) -> Path:
        return self.tmp / "residency.jsonl"

    def start_region(self, region: str, **overrides: Any) -> RegionThread:
        """A region instance with its own coordinator session (unless overrides say otherwise)."""
        if "coordinator" not in overrides and "placement" not in overrides:
            self.coordinators[region] = overrides["coordinator"] = self.new_coordinator()
        config = RegionConfig(self.topology, region, port=0, seal_interval_s=0.05, grace_s=0.5, **overrides)
        thread = RegionThread(config).start()
        self.regions[region] = thread
        return thread

    def stop_region(self, region: str) -> None:
        self.regions.pop(region).stop(grace=0.5)
        coordinator = self.coordinators.pop(region, None)
        if coordinator is not None:
            coordinator.close()

    def start_router(self, **overrides: Any) -> RouterServer:
        self.coordinators["router"] = self.new_coordinator()
        config = RouterConfig(
            self.topology,
            port=0,
            coordinator=self.coordinators["router"],
            residency_log=self.log_path,
            probe_interval_s=0.1,
            grace_s=0.5,
            **overrides,
        )
        self.router_loop = LoopThread("router")
        self.router = RouterServer(config)
        self.router_loop.run(self.router.start())
        return self.router

    def wait_healthy(self, *regions: str, timeout: float = 10.0) -> None:
        assert self.router is not None
        assert self.router.directory.wait_healthy(regions, timeout), self.router.directory.snapshot()

    def wait_unhealthy(self, *regions: str, timeout: float = 10.0) -> None:
        assert self.router is not None
        assert self.router.directory.wait_unhealthy(regions, timeout), self.router.directory.snapshot()

    def residency_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        if self.router is not None and self.router_loop is not None:
            self.router_loop.run(self.router.stop(0.5))
            self.router_loop.close()
        for region in list(self.regions):
            self.stop_region(region)
        for coordinator in self.coordinators.values():
            coordinator.close()


@contextmanager
def router_cluster(
    topology: Topology,
    tmp: Path,
    new_coordinator: Callable[[], Coordinator] | None = None,
    regions: tuple[str, ...] | None = None,
) -> Iterator[Cluster]:
    """Migrates both zone databases, starts `regions` (default all four) and a router; stops all after."""
    if new_coordinator is None:
        ensemble = MemoryEnsemble()

        def new_coordinator() -> Coordinator:
            return MemoryCoordinator(ensemble)

    for zone in topology.zones.values():
        migrate.upgrade(zone.database_url)
    cluster = Cluster(topology, new_coordinator, tmp)
    cluster.coordinators["admin"] = new_coordinator()
    try:
        for region in regions if regions is not None else tuple(r.name for r in topology.regions):
            cluster.start_region(region)
        cluster.start_router()
        yield cluster
    finally:
        cluster.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
