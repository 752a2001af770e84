"""Multi-zone pools between region servers over real gRPC (PoolPeerService, GrpcPoolPeers): two zones,
each with its own zone database (two SQLite files, or two databases on the real PostgreSQL) and its own
region server, configured and read through the public InventoryService; the peer key gate; a zone that
stopped answering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import create_engine, func, select

from consistency.zone_stock import RebalanceRequest
from deploy.embedded import embedded_cluster
from deploy.processes import free_port
from ordermesh.api.v1 import inventory_pb2 as ipb
from ordermesh.api.v1 import orders_pb2 as opb
from ordermesh.api.v1 import pool_peers_pb2 as ppb
from ordermesh.api.v1 import pool_peers_pb2_grpc as ppb_grpc
from ordermesh.client import channel_options
from ordermesh.errors import Fenced, InvalidArgument, Unauthenticated, ZoneUnavailable
from ordermesh.rpc_errors import from_rpc_error
from ordermesh.topology import Topology, hash_api_key, parse_topology
from region_service.grpc_pool_peers import GrpcPoolPeers
from region_service.server import RegionConfig, RegionServer
from region_service.storage.pools import TransferState
from region_service.storage.schema import orders, reservations
from tests.integration.inventory_harness import stubs
from tests.integration.pool_cluster import ZoneDatabases, zone_databases  # noqa: F401  (fixture)
from tests.integration.region_harness import ACME_KEY, RegionThread

PEER_KEY = "peer-test-key-3b9e51f07c2d48a6"
S = ipb


def topology(urls: dict[str, str], ports: dict[str, int]) -> Topology:
    """eu: eu-west; us: us-gone (nothing ever listens there: first in failover order), then us-east."""
    return parse_topology(
        {
            "name": "pool-peers",
            "buckets_per_zone": 2,
            "zones": {
                "eu": {
                    "database": urls["eu"],
                    "regions": {
                        "eu-west": {"endpoint": f"127.0.0.1:{ports['eu-west']}", "warehouses": {"dub-1": {}}}
                    },
                },
                "us": {
                    "database": urls["us"],
                    "regions": {
                        "us-gone": {"endpoint": f"127.0.0.1:{ports['us-gone']}"},
                        "us-east": {"endpoint": f"127.0.0.1:{ports['us-east']}", "warehouses": {"nyc-1": {}}},
                    },
                },
            },
            "residency": {"countries": {"DE": "eu", "US": "us"}},
            "tenants": {
                "acme": {
                    "api_key_sha256": [hash_api_key(ACME_KEY)],
                    "inventory": {"hold_seconds": 300},
                }
            },
            "peer_key_sha256": [hash_api_key(PEER_KEY)],
        }
    )


@dataclass
class TwoZones:
    topology: Topology
    urls: dict[str, str]
    regions: dict[str, RegionThread]  # by zone
    stopped: set[str]

    def stop(self, zone: str) -> None:
        self.stopped.add(zone)
        self.regions[zone].stop(0.2)

    def server(self, zone: str) -> RegionServer:
        server = self.regions[zone].server
        assert server is not None
        return server

    def target(self, zone: str) -> str:
        return self.regions[zone].target


@pytest.fixture
def two_zones(zone_databases: ZoneDatabases) -> Iterator[TwoZones]:  # noqa: F811
    ports = {name: free_port() for name in ("eu-west", "us-gone", "us-east")}
    topo = topology(zone_databases.urls, ports)
    regions: dict[str, RegionThread] = {}
    zones = TwoZones(topo, zone_databases.urls, regions, set())
    try:
        for zone, region in (("eu", "eu-west"), ("us", "us-east")):
            config = RegionConfig(topo, region, port=ports[region], peer_key=PEER_KEY, grace_s=0.5)
            regions[zone] = RegionThread(config).start()
        yield zones
    finally:
        for zone, thread in regions.items():
            if zone not in zones.stopped:
                thread.stop(0.5)


def configure(zones: TwoZones, sku: str, strategy: int, stock: int, **fields: Any) -> dict[str, Any]:
    answers = {}
    for zone in ("eu", "us"):
        with stubs(zones.target(zone), ACME_KEY) as s:
            request = ipb.ConfigurePoolRequest(
                zone=zone, sku=sku, strategy=strategy, zones=["eu", "us"], stock=stock, **fields
            )
            answers[zone] = s.call("ConfigurePool", request)
    return answers


def get_pool(zones: TwoZones, zone: str, sku: str) -> ipb.Pool:
    with stubs(zones.target(zone), ACME_KEY) as s:
        answer: ipb.Pool = s.call("GetPool", ipb.GetPoolRequest(zone=zone, sku=sku))
    return answer


def create_order(zones: TwoZones, request_id: str, sku: str, quantity: int) -> opb.Order:
    request = opb.CreateOrderRequest(
        request_id=request_id,
        customer=opb.Customer(customer_id="c-1", country="DE"),
        lines=[
            opb.OrderLine(sku=sku, quantity=quantity, unit_price=opb.Money(amount_minor=500, currency="EUR"))
        ],
    )
    with stubs(zones.target("eu"), ACME_KEY) as s:
        order: opb.Order = s.orders.CreateOrder(request, metadata=s.metadata, timeout=15)
    return order


def count(url: str, table: Any) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def peer_call(target: str, method: str, request: Any, metadata: tuple[tuple[str, str], ...]) -> Any:
    with grpc.insecure_channel(target, options=channel_options()) as channel:
        stub = ppb_grpc.PoolPeerServiceStub(channel)  # type: ignore[no-untyped-call]
        return getattr(stub, method)(request, metadata=metadata, timeout=10)


def refused(call: Any) -> tuple[grpc.StatusCode, Any]:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), from_rpc_error(exc)
    raise AssertionError("the call succeeded but was expected to fail")


# -- the pools across two servers ---------------------------------------------------------------------


def test_a_strong_pool_owned_by_us_is_counted_at_us_for_an_eu_order(two_zones: TwoZones) -> None:
    slices = configure(two_zones, "DROP-S", S.POOL_STRATEGY_STRONG, 5, owner="us")
    assert (slices["us"].zone, slices["us"].free, slices["eu"].free) == ("us", 5, 0)
    again = configure(two_zones, "DROP-S", S.POOL_STRATEGY_STRONG, 5, owner="us")  # same config: no-op
    assert again["us"].free == 5

    order = create_order(two_zones, "r-1", "DROP-S", 2)
    assert order.status == opb.ALLOCATED
    us = two_zones.server("us").pool_book.slice("acme", "DROP-S")  # the count moved at the owner
    assert (us.free, us.held) == (3, 2)
    pool = get_pool(two_zones, "eu", "DROP-S")  # eu reads the us slice over gRPC
    assert (pool.strategy, pool.stock, pool.free, pool.held, pool.conserved) == (
        S.POOL_STRATEGY_STRONG, 5, 3, 2, True,
    )  # fmt: skip
    assert [s.zone for s in pool.slices] == ["eu", "us"]
    with pytest.raises(grpc.RpcError) as refusal:  # more than the owner has: refused, nothing held
        create_order(two_zones, "r-2", "DROP-S", 4)
    assert refusal.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert two_zones.server("us").pool_book.slice("acme", "DROP-S").held == 2


def test_escrow_quota_moves_between_the_servers_and_is_conserved(two_zones: TwoZones) -> None:
    configure(two_zones, "DROP-E", S.POOL_STRATEGY_ESCROW, 10, quotas=[2, 8])
    eu_book = two_zones.server("eu").pool_book
    moved = eu_book.rebalance("acme", "DROP-E", RebalanceRequest("eu", 3))
    assert moved >= 3
    eu, us = eu_book.slice("acme", "DROP-E"), two_zones.server("us").pool_book.slice("acme", "DROP-E")
    assert (eu.free + us.free, eu.free) == (10, 2 + moved)
    assert eu.fence == us.fence >= 1  # both slices saw the lock holder's token
    assert [t.state for t in two_zones.server("us").pool_book.transfers("acme", "DROP-E")] == [
        TransferState.DONE
    ]
    assert [t.state for t in eu_book.transfers("acme", "DROP-E")] == [TransferState.RECEIVED]
    pool = get_pool(two_zones, "us", "DROP-E")
    assert (pool.free, pool.in_transit, pool.conserved) == (10, 0, True)

    order = create_order(two_zones, "r-e", "DROP-E", 2)  # sold from eu's own quota
    assert order.status == opb.ALLOCATED
    pool = get_pool(two_zones, "eu", "DROP-E")
    assert (pool.free, pool.held, pool.conserved) == (8, 2, True)


def test_eventual_pools_converge_by_gossip_over_grpc(two_zones: TwoZones) -> None:
    configure(two_zones, "DROP-V", S.POOL_STRATEGY_EVENTUAL, 10)
    create_order(two_zones, "r-v", "DROP-V", 4)
    eu_book, us_book = two_zones.server("eu").pool_book, two_zones.server("us").pool_book
    assert us_book.gossip_message("acme", "DROP-V").taken == (0, 0)  # us has not heard yet
    assert eu_book.gossip_once("acme", "DROP-V") == 1
    assert us_book.gossip_message("acme", "DROP-V").taken == (4, 0)
    pool = get_pool(two_zones, "us", "DROP-V")
    assert (pool.free, pool.held, pool.oversold, pool.conserved) == (6, 4, 0, True)


def test_configure_pool_refuses_bad_input_with_field_violations(two_zones: TwoZones) -> None:
    with stubs(two_zones.target("eu"), ACME_KEY) as s:
        bad = ipb.ConfigurePoolRequest(zone="us", sku="", zones=["eu", "mars"], stock=-1, owner="eu")
        code, error = refused(lambda: s.call("ConfigurePool", bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(error, InvalidArgument)
        assert {v.field for v in error.violations} >= {
            "zone",
            "sku",
            "strategy",
            "zones[1]",
            "stock",
            "owner",
        }
        code, error = refused(lambda: s.call("GetPool", ipb.GetPoolRequest(zone="eu", sku="NOPE")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in error.violations] == ["sku"]


# -- authentication ---------------------------------------------------------------------------------


def test_only_the_peer_key_opens_the_peer_service_and_only_tenant_keys_the_others(
    two_zones: TwoZones,
) -> None:
    configure(two_zones, "DROP-S", S.POOL_STRATEGY_STRONG, 5, owner="us")
    target = two_zones.target("us")
    key = ppb.PoolKey(zone="us", tenant="acme", sku="DROP-S")
    for metadata in ((), (("x-peer-key", "wrong-key"),), (("x-api-key", ACME_KEY),)):
        code, error = refused(lambda m=metadata: peer_call(target, "GetSlice", key, m))  # type: ignore[misc]
        assert code == grpc.StatusCode.UNAUTHENTICATED and isinstance(error, Unauthenticated)
    answer = peer_call(target, "GetSlice", key, (("x-peer-key", PEER_KEY),))
    assert (answer.zone, answer.free) == ("us", 5)
    with stubs(target, None) as s:  # the peer key is no tenant key
        code, _ = refused(
            lambda: s.inventory.GetPool(
                ipb.GetPoolRequest(zone="us", sku="DROP-S"), metadata=(("x-peer-key", PEER_KEY),), timeout=5
            )
        )
        assert code == grpc.StatusCode.UNAUTHENTICATED
    wrong_zone = ppb.PoolKey(zone="eu", tenant="acme", sku="DROP-S")  # us never serves eu's slice
    code, error = refused(lambda: peer_call(target, "GetSlice", wrong_zone, (("x-peer-key", PEER_KEY),)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and error.violations[0].field == "zone"


def test_remote_errors_arrive_as_the_same_error_types(two_zones: TwoZones) -> None:
    configure(two_zones, "DROP-E", S.POOL_STRATEGY_ESCROW, 10)
    peers = GrpcPoolPeers(two_zones.topology, two_zones.server("eu").pool_book, PEER_KEY, timeout_s=5)
    try:
        us = peers.book("us")
        us.escrow.acquire_lease("pool-acme-DROP-E", "eu-west/a", 7)
        with pytest.raises(Fenced):  # another holder with an older token
            us.escrow.acquire_lease("pool-acme-DROP-E", "eu-west/b", 3)
        us.escrow.release_lease("pool-acme-DROP-E", "eu-west/a", 7)
        with pytest.raises(InvalidArgument) as bad:
            us.slice("acme", "NO-SUCH-POOL")
        assert [v.field for v in bad.value.violations] == ["sku"]
    finally:
        peers.close()
    no_key = GrpcPoolPeers(two_zones.topology, two_zones.server("eu").pool_book, "not-the-key")
    try:
        with pytest.raises(ZoneUnavailable) as unavailable:  # the tenant's key is not what failed
            no_key.book("us").slice("acme", "DROP-E")
        assert "peer key refused" in str(unavailable.value)
    finally:
        no_key.close()


# -- a zone that does not answer --------------------------------------------------------------------


def test_a_stopped_owner_zone_is_zone_unavailable_and_nothing_is_held_here(two_zones: TwoZones) -> None:
    configure(two_zones, "DROP-S", S.POOL_STRATEGY_STRONG, 5, owner="us")
    two_zones.stop("us")  # us-gone never listened: no region of us answers now
    with pytest.raises(grpc.RpcError) as refusal:
        create_order(two_zones, "r-1", "DROP-S", 1)
    assert refusal.value.code() == grpc.StatusCode.UNAVAILABLE
    assert isinstance(from_rpc_error(refusal.value), ZoneUnavailable)
    assert count(two_zones.urls["eu"], orders) == 0
    assert count(two_zones.urls["eu"], reservations) == 0
    peers = GrpcPoolPeers(two_zones.topology, two_zones.server("eu").pool_book, PEER_KEY, timeout_s=1)
    try:
        with pytest.raises(ZoneUnavailable):
            peers.book("us").reserve("acme", "DROP-S", 1)
    finally:
        peers.close()


# -- the embedded cluster: through a router, regions finding each other in the coordinator -----------


def test_the_embedded_cluster_serves_pools_through_its_router(tmp_path: Path) -> None:
    data = {
        "zones": {
            "eu": {
                "database": "sqlite:///eu.db",
                "regions": {"eu-west": {"endpoint": "127.0.0.1:1", "warehouses": {"dub-1": {}}}},
            },
            "us": {
                "database": "sqlite:///us.db",
                "regions": {"us-east": {"endpoint": "127.0.0.1:2", "warehouses": {"nyc-1": {}}}},
            },
        },
        "residency": {"countries": {"DE": "eu", "US": "us"}},
        "tenants": {"acme": {"api_key_sha256": [hash_api_key(ACME_KEY)], "inventory": {}}},
    }
    with embedded_cluster(parse_topology(data), tmp_path) as cluster:
        with stubs(cluster.router_endpoint, ACME_KEY) as s:
            for zone in ("eu", "us"):
                request = ipb.ConfigurePoolRequest(
                    zone=zone, sku="DROP-S", strategy=S.POOL_STRATEGY_STRONG, zones=["eu", "us"], owner="us",
                    stock=5,
                )  # fmt: skip
                s.call("ConfigurePool", request)
            order = s.orders.CreateOrder(
                opb.CreateOrderRequest(
                    request_id="r-1",
                    customer=opb.Customer(customer_id="c-1", country="DE"),
                    lines=[
                        opb.OrderLine(
                            sku="DROP-S", quantity=2, unit_price=opb.Money(amount_minor=5, currency="EUR")
                        )
                    ],
                ),
                metadata=s.metadata,
                timeout=15,
            )
            assert order.status == opb.ALLOCATED
            pool = s.call("GetPool", ipb.GetPoolRequest(zone="eu", sku="DROP-S"))
        assert (pool.free, pool.held, pool.conserved) == (3, 2, True)
        assert cluster.servers["us-east"].pool_book.slice("acme", "DROP-S").held == 2
        logged = [json.loads(line) for line in cluster.residency_log.read_text().splitlines()]
        assert [r["zone"] for r in logged if r["method"] == "ConfigurePool"] == ["eu", "us"]
