"""A region instance: the gRPC server (ordermesh.v1 services, health, reflection) over its zone's database.

Failure semantics: it refuses to start on a database whose schema is not current (SchemaNotCurrent).
Shutdown is graceful: health turns NOT_SERVING, following watchers end their streams cleanly (they
resume from their cursor elsewhere), then the server stops accepting calls and waits up to `grace`
seconds for in-flight ones, and only then are the background tasks stopped and the pool disposed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy import Engine

from consistency.coordinator import Coordinator
from consistency.memory_coordinator import MemoryCoordinator
from ordermesh.api.v1 import inventory_pb2, pool_peers_pb2
from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.clock import Clock, SystemClock
from ordermesh.compiled import MODULES as COMPILABLE
from ordermesh.compiled import running_compiled
from ordermesh.ids import TokenSource
from ordermesh.shard import ShardKey
from ordermesh.topology import Topology
from region_service import inventory_servicer, pool_peer_servicer
from region_service.auth import AuthInterceptor
from region_service.create_batch import OnLoop
from region_service.grpc_pool_peers import GrpcPoolPeers, InstanceEndpoints
from region_service.inventory_pools import PoolLines
from region_service.membership import Membership
from region_service.orders import DAY_US, OrderBook
from region_service.placement import PlacementView
from region_service.pool_peers import DirectPeers, PoolPeers
from region_service.pool_upkeep import upkeep
from region_service.pools import PoolBook
from region_service.ports import TransactionRunner
from region_service.servicer import SERVICE, OrderServiceServicer, generic_handler
from region_service.storage import admin, chain
from region_service.storage.engine import make_engine
from region_service.storage.migrate import check_schema
from region_service.storage.pg_async import AsyncPg
from region_service.storage.pg_seal import LoopSealer, sealer_pool
from region_service.storage.transactions import SqlTransactionRunner

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# CreateOrder's pool on the loop: one batch per shard is in flight at a time (servicer.py), so a few
# connections serve the busy shards; at most CREATE_CONNECTIONS_MAX are open when many shards write.
CREATE_CONNECTIONS, CREATE_CONNECTIONS_MAX = 4, 16


@dataclass
class RegionConfig:
    """Everything a region instance needs; the topology is the one file every tool reads."""

    topology: Topology
    region: str
    host: str = "127.0.0.1"
    port: int | None = None  # None: the region's endpoint port in the topology; 0: any free port
    grace_s: float = 10.0
    clock: Clock = field(default_factory=SystemClock)
    token_bytes: TokenSource = secrets.token_bytes
    placement: PlacementView | None = None
    idempotency_retention_us: int = DAY_US
    seal_interval_s: float = 0.2
    purge_interval_s: float = 300.0
    reap_interval_s: float = 5.0  # expired stock holds are released within about this long
    pool_upkeep_interval_s: float = 2.0  # eventual pools gossip, unfinished escrow transfers complete
    watch_poll_s: float = 0.1
    workers: int = 16
    database_url: str | None = None  # default: the zone's database in the topology
    # Cluster mode: register in the coordinator, fence writes by its placements (region_service.membership).
    coordinator: Coordinator | None = None
    instance_id: str | None = None
    # Multi-zone pools: how this region reaches the other zones' pool books (default: GrpcPoolPeers,
    # over PoolPeerService, authenticated with `peer_key`, the plaintext of a topology peer_key_sha256).
    pool_peers: PoolPeers | None = None
    peer_key: str | None = None


class RegionServer:
    """Build with build_server(config); then `await start()`, `port`, `await stop(grace)`."""

    def __init__(self, config: RegionConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.zone = config.topology.region(config.region).zone
        self.runner = SqlTransactionRunner(engine)
        self.membership = (
            Membership(
                config.coordinator,
                config.topology,
                config.region,
                self.runner,
                config.clock,
                config.instance_id,
            )
            if config.coordinator is not None
            else None
        )
        # SqlTransactionRunner hands work a SqlUnitOfWork, which is a ports.UnitOfWork; mypy cannot see
        # that a runner typed for the narrower unit of work also serves the port, hence the cast.
        self.book = OrderBook(
            config.topology,
            config.region,
            cast(TransactionRunner, self.runner),
            config.clock,
            token_bytes=config.token_bytes,
            placement=config.placement or (self.membership.placement if self.membership else None),
            idempotency_retention_us=config.idempotency_retention_us,
            seal_pending=self.seal,
        )
        # The OrderBook's own InventoryBook: the one whose stock arrivals re-decide backorders.
        self.inventory_book = self.book.inventory
        # Multi-zone pools: this zone's PoolBook; its escrow locks need a coordinator shared by the zones
        # (a private in-memory one when running without: good for one process only).
        self._own_coordinator: MemoryCoordinator | None = None
        pool_coordinator = config.coordinator
        if pool_coordinator is None:
            pool_coordinator = self._own_coordinator = MemoryCoordinator()
        instance = self.membership.instance_id if self.membership else config.instance_id or "1"
        self.pool_book = PoolBook(
            self.zone,
            self.runner,
            config.pool_peers or DirectPeers(),  # replaced just below when None (it needs the book)
            pool_coordinator,
            config.clock,
            holder=f"{config.region}/{instance}",
        )
        self.grpc_peers: GrpcPoolPeers | None = None
        if config.pool_peers is None:
            self.grpc_peers = GrpcPoolPeers(
                config.topology,
                self.pool_book,
                config.peer_key or "",
                endpoint_of=(
                    InstanceEndpoints(config.coordinator, config.topology) if config.coordinator else None
                ),
            )
            self.pool_book.peers = self.grpc_peers
        self.inventory_book.pool_lines = PoolLines(self.pool_book, self.zone)
        self.executor = ThreadPoolExecutor(
            max_workers=config.workers, thread_name_prefix=f"{config.region}-db"
        )
        self.health = health.aio.HealthServicer()
        self.servicer: OrderServiceServicer | None = None
        self.server: aio.Server | None = None
        self.port = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.loop_sealer: LoopSealer | None = None
        self._stopped = asyncio.Event()

    def seal(self, shard: ShardKey | None = None) -> object:
        """Seals pending events into their shards' hash chains (all shards of the zone when None)."""
        if shard is None:
            return chain.seal_pending(self.runner)
        return chain.seal_shard(self.runner, shard)

    async def start(self) -> None:
        cfg = self.config
        self.servicer = OrderServiceServicer(
            self.book, executor=self.executor, watch_poll_s=cfg.watch_poll_s, on_loop=self._creates_on_loop()
        )
        self.server = aio.server(
            interceptors=[AuthInterceptor(cfg.topology)],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        stock = inventory_servicer.InventoryServiceServicer(
            self.inventory_book,
            executor=self.executor,
            draining=self.servicer.draining,
            pools=self.pool_book,
        )
        peers = pool_peer_servicer.PoolPeerServiceServicer(
            self.pool_book, executor=self.executor, draining=self.servicer.draining
        )
        self.server.add_generic_rpc_handlers(
            [
                generic_handler(self.servicer),
                inventory_servicer.generic_handler(stock),
                pool_peer_servicer.generic_handler(peers),
            ]
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = (
            pb.DESCRIPTOR.services_by_name["OrderService"].full_name,
            inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name,
            pool_peers_pb2.DESCRIPTOR.services_by_name["PoolPeerService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, self.server)
        port = (
            cfg.port
            if cfg.port is not None
            else int(cfg.topology.region(cfg.region).endpoint.rsplit(":", 1)[1])
        )
        try:
            self.port = self.server.add_insecure_port(f"{cfg.host}:{port}")
        except RuntimeError as exc:  # grpc reports a taken or unbindable address this way
            self.executor.shutdown(wait=False)
            self._close_pools()
            self.engine.dispose()
            raise OSError(f"cannot listen on {cfg.host}:{port} (address in use?)") from exc
        await self.server.start()
        for name in ("", SERVICE, inventory_servicer.SERVICE, pool_peer_servicer.SERVICE):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self.membership is not None:
            endpoint = f"{cfg.host}:{self.port}"
            await asyncio.get_running_loop().run_in_executor(self.executor, self.membership.start, endpoint)
        self._tasks = [
            asyncio.create_task(self._sealing(cfg.seal_interval_s)),
            asyncio.create_task(self._every(cfg.purge_interval_s, self._purge, "purge idempotency keys")),
            asyncio.create_task(self._every(cfg.reap_interval_s, self.book.reap_holds, "expire stock holds")),
            asyncio.create_task(self._every(cfg.pool_upkeep_interval_s, self._pool_upkeep, "pool upkeep")),
        ]
        loop = type(asyncio.get_running_loop())
        log.info(
            "region %s (zone %s) serving on %s:%d (event loop %s.%s; %d of %d hot modules compiled)",
            cfg.region, self.zone, cfg.host, self.port, loop.__module__, loop.__qualname__,
            len(running_compiled()), len(COMPILABLE),
        )  # fmt: skip

    def _purge(self) -> object:
        now = self.config.clock.now_us()
        return admin.purge_idempotency(self.runner, now), admin.purge_transfers(self.runner, now)

    def _pool_upkeep(self) -> object:
        return upkeep(self.pool_book)

    def _sealing(self, seconds: float) -> Coroutine[Any, Any, None]:
        """The periodic sealer. On PostgreSQL it runs on the event loop over its own connection
        (storage.pg_seal): in a worker thread its Python work convoys the GIL with the loop."""
        if self.engine.dialect.name != "postgresql":
            return self._every(seconds, self.seal, "seal")
        self.loop_sealer = LoopSealer(sealer_pool(self.engine.url), self.runner)
        return self._every_on_loop(seconds, self.loop_sealer.seal_pending, "seal")

    async def _every(self, seconds: float, job: Callable[[], object], what: str) -> None:
        loop = asyncio.get_running_loop()
        await self._every_on_loop(seconds, lambda: loop.run_in_executor(self.executor, job), what)

    async def _every_on_loop(self, seconds: float, job: Callable[[], Awaitable[object]], what: str) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as exc:  # a background job must outlive a database outage
                log.warning("%s failed: %s", what, exc)

    def _creates_on_loop(self) -> OnLoop | None:
        """PostgreSQL: CreateOrder batches run on the event loop over their own small pool."""
        if self.engine.dialect.name != "postgresql":
            return None
        pool = AsyncPg(self.engine.url, CREATE_CONNECTIONS, CREATE_CONNECTIONS_MAX)
        return OnLoop(pool, self.runner, random.Random())

    async def stop(self, grace: float | None = None) -> None:
        """Drains and stops; safe to call more than once."""
        if self.server is None or self._stopped.is_set():
            return
        self._stopped.set()
        if self.membership is not None:  # first: routers stop choosing this instance
            await asyncio.get_running_loop().run_in_executor(self.executor, self.membership.stop)
        await self.health.enter_graceful_shutdown()
        if self.servicer is not None:
            self.servicer.draining.set()
        await self.server.stop(self.config.grace_s if grace is None else grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.loop_sealer is not None:
            await self.loop_sealer.pg.close()
        self.executor.shutdown(wait=True)
        if self.servicer is not None and self.servicer.on_loop is not None:
            await self.servicer.on_loop.pg.close()
        self._close_pools()
        self.engine.dispose()
        log.info("region %s stopped; %s", self.config.region, self._work_done())

    def _work_done(self) -> str:
        """What the instance did, for its last log line: CreateOrder's group commits, transactions."""
        orders, batches = self.servicer.create_batching() if self.servicer is not None else (0, 0)
        stats = self.runner.stats
        return (
            f"CreateOrder: {orders} orders in {batches} batches ({orders / max(batches, 1):.2f} per batch); "
            f"transactions: {stats.transactions} committed, {stats.retries} re-run, "
            f"{stats.contention_failures} gave up"
        )

    def _close_pools(self) -> None:
        if self.grpc_peers is not None:
            self.grpc_peers.close()
        if self._own_coordinator is not None:
            self._own_coordinator.close()

    async def wait_for_termination(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()


def build_server(config: RegionConfig) -> RegionServer:
    """Connects to the zone database and checks its schema (SchemaNotCurrent if not current)."""
    zone = config.topology.zones[config.topology.region(config.region).zone]
    # No ping per checkout: every use of this engine goes through SqlTransactionRunner, which re-runs
    # a transaction whose connection turns out dead before COMMIT (ConnectionLost) on a fresh one —
    # a restarted database still costs a reconnect, not a failed call — and the ping was one more
    # round trip (and GIL hand-off) for every CreateOrder batch.
    engine = make_engine(config.database_url or zone.database_url, pre_ping=False)
    try:
        check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return RegionServer(config, engine)


async def serve(
    config: RegionConfig, on_started: Callable[[RegionServer], Awaitable[None]] | None = None
) -> None:
    """Runs a region instance until SIGTERM/SIGINT, then shuts it down gracefully."""
    import signal

    owned = None
    if config.coordinator is None and config.topology.coordinator != "memory":
        from consistency.zk_coordinator import ZkCoordinator

        owned = ZkCoordinator(config.topology.coordinator).start()
        config.coordinator = owned
    server = build_server(config)
    await server.start()
    # What start-up built (modules, the topology, pools) lives as long as the process: moved out of
    # the collector's reach, a full collection no longer walks ~100k such objects (~50 ms with the
    # loop stopped, a p99 outlier of every call in flight) — only what calls allocate since.
    gc.collect()
    gc.freeze()
    if on_started is not None:
        await on_started(server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("signal received: draining for up to %.1fs", config.grace_s)
    await server.stop()
    if owned is not None:
        owned.close()
