"""Routers over real backends: PostgreSQL per zone and a real ZooKeeper coordinator (kazoo sessions)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from consistency.coordinator import Coordinator
from consistency.zk_coordinator import ZkCoordinator
from deploy.postgres_server import PostgresServer
from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.client import StorefrontClient
from ordermesh.errors import Fenced, ZoneUnavailable
from ordermesh.money import Money
from ordermesh.order import OrderLine
from ordermesh.status import OrderStatus
from router.residency_log import verify_residency
from tests.integration.region_harness import ACME_KEY, create_request, raw_stub, row_counts, rpc_failure
from tests.integration.router_harness import Cluster, router_cluster, router_topology, wait_for

pytestmark = pytest.mark.integration
LINES = [OrderLine("SKU-1", 2, Money(1999, "EUR"))]


@pytest.fixture
def us_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(name)
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str, us_postgres_url: str, zk_hosts: str) -> Iterator[Cluster]:
    topology = router_topology(postgres_url, us_postgres_url, coordinator=zk_hosts)

    def new_coordinator() -> Coordinator:
        return ZkCoordinator(zk_hosts, session_timeout=4.0).start()

    with router_cluster(topology, tmp_path, new_coordinator) as c:
        c.wait_healthy("eu-west", "eu-central", "us-east", "us-west")
        yield c


def test_routing_failover_fencing_and_zone_outage_on_real_backends(cluster: Cluster) -> None:
    shard = cluster.topology.shard("acme", "eu")
    with StorefrontClient(cluster.router_target, ACME_KEY) as client:
        order = client.create_order("c-1", "DE", LINES)
        assert client.get_order(order.order_id).zone == "eu"
        assert client.create_order("c-2", "US", LINES).zone == "us"
        with client.watch_order_events(zone="eu", stop_at_end=True, timeout=5) as stream:
            assert [e.order_id for e in stream] == [order.order_id]

        cluster.stop_region("eu-west")  # its ZooKeeper session closes: the registration vanishes
        cluster.wait_unhealthy("eu-west")
        moved = cluster.admin.set_placement(shard, "eu-central", None)
        assert moved.epoch == 1
        assert client.update_order_status(order.order_id, OrderStatus.CONFIRMED).version == 2

        # A zombie of the old home with a stale epoch is refused by the zone database.
        zombie = cluster.start_region("eu-west", placement=None, coordinator=None)
        with raw_stub(zombie.target, ACME_KEY) as raw:
            change = pb.CancelOrderRequest(request_id="r-zombie", order_id=order.order_id)
            code, err, _ = rpc_failure(lambda: raw.stub.CancelOrder(change, metadata=raw.metadata))
        assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, Fenced)
        cluster.stop_region("eu-west")

        eu_before = row_counts(cluster.topology.zones["eu"].database_url)
        cluster.stop_region("us-east")
        cluster.stop_region("us-west")
        cluster.wait_unhealthy("us-east", "us-west")
        with raw_stub(cluster.router_target, ACME_KEY) as raw:
            code, err, _ = rpc_failure(
                lambda: raw.stub.CreateOrder(
                    create_request("r-us", country="US"), metadata=raw.metadata, timeout=5
                )
            )
        assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, ZoneUnavailable)
        assert row_counts(cluster.topology.zones["eu"].database_url) == eu_before

    records = cluster.residency_records()
    served = [(r["zone"], r["region"]) for r in records if r["decision"] == "served"]
    assert served == [("eu", "eu-west"), ("us", "us-east"), ("eu", "eu-central")]
    assert records[-1]["decision"] == "zone_unavailable"
    assert verify_residency(cluster.log_path, cluster.topology).ok


def test_an_expired_zookeeper_session_stops_writes_until_re_registered(cluster: Cluster) -> None:
    coordinator = cluster.coordinators["eu-west"]
    region = cluster.regions["eu-west"]
    assert region.server is not None and region.server.membership is not None
    placement = region.server.membership.placement
    shard = cluster.topology.shard("acme", "eu")
    refused: list[Exception] = []

    def during_lost(state: object) -> None:
        if getattr(state, "name", "") == "LOST":
            try:
                placement.held_epoch(shard)
            except Fenced as exc:
                refused.append(exc)

    coordinator.add_state_listener(during_lost)
    coordinator.expire_session()
    assert len(refused) == 1
    wait_for(lambda: bool(cluster.admin.instances("eu-west")), what="re-registration after LOST")
    with StorefrontClient(cluster.router_target, ACME_KEY) as client:
        assert client.create_order("c-1", "DE", LINES).zone == "eu"
    assert cluster.residency_records()[-1]["region"] == "eu-west"
