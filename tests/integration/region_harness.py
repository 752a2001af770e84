"""Test harness: a real region gRPC server in a background thread, a two-zone topology, row counts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from sqlalchemy import create_engine, func, select, text

from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.api.v1 import orders_pb2_grpc as pb_grpc
from ordermesh.client import channel_options
from ordermesh.errors import OrdermeshError
from ordermesh.rpc_errors import from_rpc_error
from ordermesh.topology import Topology, hash_api_key, parse_topology
from region_service.server import RegionConfig, RegionServer, build_server
from region_service.storage import migrate
from region_service.storage.schema import idempotency_keys, order_events, orders

ACME_KEY = "acme-test-key-6f1c0d3e9a8b7f2e"
GLOBEX_KEY = "globex-test-key-0a9b8c7d6e5f4a3b"
REGION = "eu-west"


def topology_data(eu_url: str, us_url: str, eu_port: int = 17001, buckets: int = 4) -> dict[str, Any]:
    """Zones eu (DE, FR) and us (US); tenants acme and globex may use both; the eu region is tested."""
    return {
        "name": "grpc-test",
        "buckets_per_zone": buckets,
        "zones": {
            "eu": {"database": eu_url, "regions": {REGION: {"endpoint": f"127.0.0.1:{eu_port}"}}},
            "us": {"database": us_url, "regions": {"us-east": {"endpoint": "127.0.0.1:17101"}}},
        },
        "residency": {"countries": {"DE": "eu", "FR": "eu", "US": "us"}},
        "tenants": {
            "acme": {"zones": ["eu", "us"], "api_key_sha256": [hash_api_key(ACME_KEY)]},
            "globex": {"zones": ["eu", "us"], "api_key_sha256": [hash_api_key(GLOBEX_KEY)]},
        },
    }


def write_topology(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def eu_database(kind: str, request: Any, tmp: Path) -> str:
    """The eu zone's database URL for a backend parameter: "sqlite" (a file in tmp) or "postgres"."""
    return f"sqlite:///{tmp / 'eu.db'}" if kind == "sqlite" else str(request.getfixturevalue("postgres_url"))


def make_topology(eu_url: str, tmp: Path, buckets: int = 4) -> Topology:
    return parse_topology(topology_data(eu_url, f"sqlite:///{tmp / 'us.db'}", buckets=buckets))


class RegionThread:
    """A RegionServer on its own event loop in a daemon thread (so sync clients can call it)."""

    def __init__(self, config: RegionConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.server: RegionServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="region-server", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.server = build_server(self.config)
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> RegionThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, grace: float = 1.0) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(grace), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@contextmanager
def running_region(topology: Topology, **overrides: Any) -> Iterator[RegionThread]:
    """Migrates the eu database, serves the eu region on a free port, stops it afterwards."""
    migrate.upgrade(topology.zones["eu"].database_url)
    config = RegionConfig(topology, REGION, port=0, **overrides)
    region = RegionThread(config).start()
    try:
        yield region
    finally:
        region.stop()


def row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (orders, order_events, idempotency_keys)
            }
    finally:
        engine.dispose()


def execute(url: str, sql: str, **params: Any) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


@dataclass
class Raw:
    """A raw stub plus the metadata of one tenant: for calls the typed client would not make."""

    channel: grpc.Channel
    stub: Any
    metadata: tuple[tuple[str, str], ...]


@contextmanager
def raw_stub(target: str, api_key: str | None) -> Iterator[Raw]:
    channel = grpc.insecure_channel(target, options=channel_options())
    try:
        metadata = (("x-api-key", api_key),) if api_key is not None else ()
        yield Raw(channel, pb_grpc.OrderServiceStub(channel), metadata)  # type: ignore[no-untyped-call]
    finally:
        channel.close()


def rpc_failure(call: Callable[[], Any]) -> tuple[grpc.StatusCode, OrdermeshError | None, grpc.RpcError]:
    """Runs a raw call that must fail; returns its wire code, its parsed domain error, the RpcError."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), from_rpc_error(exc), exc
    raise AssertionError("the call succeeded but was expected to fail")


def create_request(request_id: str, country: str = "DE", customer: str = "c-1", qty: int = 2) -> Any:
    return pb.CreateOrderRequest(
        request_id=request_id,
        customer=pb.Customer(customer_id=customer, country=country),
        lines=[
            pb.OrderLine(sku="SKU-1", quantity=qty, unit_price=pb.Money(amount_minor=1999, currency="EUR"))
        ],
    )
