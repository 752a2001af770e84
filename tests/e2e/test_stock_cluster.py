"""Stock across real processes: 2 zones x 1 region, PostgreSQL per zone, ZooKeeper, a router. A strong
pool owned by us sells to eu customers over the regions' PoolPeerService (the cluster's peer key);
an escrow pool short in eu gets quota moved from us under the ZooKeeper lock, between two databases."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import yaml

from deploy.cluster import ClusterOptions, LocalCluster
from ordermesh.client import StorefrontClient
from ordermesh.errors import InsufficientInventory
from ordermesh.money import Money
from ordermesh.order import OrderLine
from ordermesh.topology import parse_topology

ACME_KEY = "acme-demo-key"
TOPOLOGY_YAML = """
name: e2e-stock
buckets_per_zone: 4
zones:
  eu:
    database: sqlite:///unused-eu.sqlite
    regions: {eu-west: {endpoint: "127.0.0.1:1", warehouses: {dub-1: {cost: 10}}}}
  us:
    database: sqlite:///unused-us.sqlite
    regions: {us-east: {endpoint: "127.0.0.1:3", warehouses: {nyc-1: {}}}}
routers: [{name: router-1, endpoint: "127.0.0.1:5"}]
residency: {countries: {DE: eu, US: us}}
tenants:
  acme:
    zones: [eu, us]
    api_key_sha256: [8676d15d94dabdd1283e6c407e2bb08a7b5c13b4e3667d4795c17172e080a3d4]
    inventory: {backorder: reject, hold_seconds: 600}
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorefrontClient]:
    topology = parse_topology(yaml.safe_load(TOPOLOGY_YAML))
    with (
        LocalCluster(topology, tmp_path_factory.mktemp("stock"), ClusterOptions()) as cluster,
        StorefrontClient(cluster.router_endpoint, ACME_KEY, timeout=10) as storefront,
    ):
        yield storefront


def _line(sku: str, quantity: int) -> list[OrderLine]:
    return [OrderLine(sku, quantity, Money(1000, "EUR"))]


def test_warehouse_stock_through_the_router(client: StorefrontClient) -> None:
    client.set_stock("eu", "dub-1", "SKU-A", 3)
    order = client.create_order("c-1", "DE", _line("SKU-A", 2), request_id="a-1")
    assert [(r.warehouse, r.quantity) for r in client.reservations(order.order_id)] == [("dub-1", 2)]
    with pytest.raises(InsufficientInventory):
        client.create_order("c-2", "DE", _line("SKU-A", 2), request_id="a-2")
    assert client.availability("eu", "SKU-A").available_to_promise == 1


def test_a_strong_pool_owned_by_us_sells_to_eu_over_the_peer_service(client: StorefrontClient) -> None:
    for zone in ("eu", "us"):
        client.configure_pool(zone, "DROP-S", "strong", ["eu", "us"], 5, owner="us")
    order = client.create_order("c-3", "DE", _line("DROP-S", 2), request_id="s-1")
    pool = client.pool("eu", "DROP-S")
    assert (pool.free, pool.held, pool.oversold) == (3, 2, 0)
    client.cancel_order(order.order_id, request_id="s-1-cancel")
    deadline = time.monotonic() + 10  # the owner's release follows the local commit
    while client.pool("us", "DROP-S").held and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (client.pool("us", "DROP-S").free, client.pool("us", "DROP-S").held) == (5, 0)


def test_escrow_quota_moves_to_the_zone_that_runs_low(client: StorefrontClient) -> None:
    for zone in ("eu", "us"):
        client.configure_pool(zone, "DROP-E", "escrow", ["eu", "us"], 100, low_watermark=5, quotas=[4, 96])
    client.create_order("c-4", "DE", _line("DROP-E", 3), request_id="e-1")  # eu falls below its watermark
    deadline = time.monotonic() + 15  # ... and asks for quota, moved under the ZooKeeper lock
    while time.monotonic() < deadline:
        slices = {s.zone: s for s in client.pool("eu", "DROP-E").slices}
        if slices["eu"].free > 1:
            break
        time.sleep(0.2)
    pool = client.pool("eu", "DROP-E")
    assert pool.conserved and pool.in_transit == 0 and pool.held == 3
    assert {s.zone: s.free for s in pool.slices}["eu"] > 1
    assert sum(s.free for s in pool.slices) == 97
    order = client.create_order("c-5", "DE", _line("DROP-E", 5), request_id="e-2")  # beyond the first quota
    assert client.reservations(order.order_id)[0].quantity == 5
