"""A router: the gRPC server (forwarding ordermesh.v1 services, health, reflection) in front of the regions.

Failure semantics: it refuses to start without a coordinator (the in-memory one only exists inside a
process: pass it as `RouterConfig.coordinator`; a ZooKeeper connect string in the topology is dialled
here, CoordinatorUnavailable when it cannot be reached). Once up, a coordinator outage freezes the
directory at its last snapshot (see router.directory). Shutdown is graceful: health turns
NOT_SERVING, in-flight calls get `grace` seconds, then probes, watches and channels stop.

Usage::

    server = RouterServer(RouterConfig(topology, coordinator=coordinator, port=0))
    await server.start(); ...; await server.stop()
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from consistency.coordinator import Coordinator
from ordermesh.api.v1 import inventory_pb2
from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.client import MAX_MESSAGE_BYTES
from ordermesh.topology import Topology
from router.directory import Directory
from router.forwarding import SERVICE, Forwarder
from router.health import HealthProber
from router.inventory_forwarding import SERVICE as INVENTORY_SERVICE
from router.inventory_forwarding import InventoryForwarder
from router.residency_log import ResidencyLog
from router.upstream import ChannelPool

log = logging.getLogger(__name__)
DEFAULT_RESIDENCY_LOG = Path("var") / "residency"


@dataclass
class RouterConfig:
    topology: Topology
    name: str = "router"
    host: str = "127.0.0.1"
    port: int | None = None  # None: this router's endpoint port in the topology (by name); 0: any free port
    coordinator: Coordinator | None = None  # required when topology.coordinator == "memory"
    residency_log: str | Path | None = None  # None: var/residency/<name>.jsonl
    default_timeout_s: float = 30.0  # cap of a forwarded unary call when the caller sets no shorter deadline
    probe_interval_s: float = 0.5
    probe_timeout_s: float = 0.3
    grace_s: float = 5.0


def router_port(config: RouterConfig) -> int:
    if config.port is not None:
        return config.port
    for router in config.topology.routers:
        if router.name == config.name:
            return int(router.endpoint.rsplit(":", 1)[1])
    raise KeyError(f"router {config.name!r} (give --port, or list it under routers: in the topology)")


class RouterServer:
    """`await start()`, then `port`, `directory`, `residency_log`; `await stop(grace)`."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self._owned_coordinator = False
        self.coordinator = config.coordinator or self._dial(config.topology)
        log_path = config.residency_log or DEFAULT_RESIDENCY_LOG / f"{config.name}.jsonl"
        self.residency_log = ResidencyLog(log_path)
        self.directory = Directory(config.topology, self.coordinator)
        self.prober = HealthProber(
            self.directory, interval=config.probe_interval_s, timeout=config.probe_timeout_s
        )
        self.pool = ChannelPool()
        self.forwarder = Forwarder(
            config.topology,
            self.directory,
            self.residency_log,
            pool=self.pool,
            default_timeout=config.default_timeout_s,
        )
        self.inventory_forwarder = InventoryForwarder(
            config.topology,
            self.directory,
            self.residency_log,
            pool=self.pool,
            default_timeout=config.default_timeout_s,
        )
        self.health = health.aio.HealthServicer()
        self.server: aio.Server | None = None
        self.port = 0
        self._stopped = False

    def _dial(self, topology: Topology) -> Coordinator:
        if topology.coordinator == "memory":
            raise ValueError(
                "topology coordinator is 'memory': a router process cannot share it; pass a coordinator "
                "object in-process, or set coordinator: to a ZooKeeper connect string"
            )
        from consistency.zk_coordinator import ZkCoordinator

        self._owned_coordinator = True
        return ZkCoordinator(topology.coordinator).start()

    async def start(self) -> None:
        cfg = self.config
        self.residency_log.open()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.directory.start)
        await self.prober.start()
        self.server = aio.server(
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ]
        )
        self.server.add_generic_rpc_handlers([self.forwarder.handler(), self.inventory_forwarder.handler()])
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = (
            pb.DESCRIPTOR.services_by_name["OrderService"].full_name,
            inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, self.server)
        port = router_port(cfg)
        try:
            self.port = self.server.add_insecure_port(f"{cfg.host}:{port}")
        except RuntimeError as exc:
            await self._release()
            raise OSError(f"cannot listen on {cfg.host}:{port} (address in use?)") from exc
        await self.server.start()
        for name in ("", SERVICE, INVENTORY_SERVICE):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("router %s serving on %s:%d", cfg.name, cfg.host, self.port)

    async def stop(self, grace: float | None = None) -> None:
        """Drains and stops; safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(self.config.grace_s if grace is None else grace)
        await self._release()
        log.info("router %s stopped", self.config.name)

    async def _release(self) -> None:
        await self.prober.stop()
        self.directory.stop()
        await self.pool.close()
        self.residency_log.close()
        if self._owned_coordinator:
            self.coordinator.close()

    async def wait_for_termination(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()


async def serve(config: RouterConfig) -> None:
    """Runs a router until SIGTERM/SIGINT, then shuts it down gracefully."""
    import signal

    server = RouterServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("signal received: draining for up to %.1fs", config.grace_s)
    await server.stop()
