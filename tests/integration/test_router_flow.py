"""Routers over real gRPC regions (SQLite per zone, in-memory coordinator): routing, residency, failover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.client import StorefrontClient
from ordermesh.errors import Fenced, InvalidArgument, ResidencyViolation, Unauthenticated, ZoneUnavailable
from ordermesh.money import Money
from ordermesh.order import OrderLine
from ordermesh.status import OrderStatus
from router.forwarding import SERVICE
from router.residency_log import verify_residency
from tests.integration.region_harness import ACME_KEY, create_request, raw_stub, row_counts, rpc_failure
from tests.integration.router_harness import (
    EU_ONLY_KEY,
    Cluster,
    LoopThread,
    router_cluster,
    router_topology,
)

pytestmark = pytest.mark.integration
LINES = [OrderLine("SKU-1", 2, Money(1999, "EUR"))]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    topology = router_topology(f"sqlite:///{tmp_path / 'eu.db'}", f"sqlite:///{tmp_path / 'us.db'}")
    with router_cluster(topology, tmp_path) as c:
        c.wait_healthy("eu-west", "eu-central", "us-east", "us-west")
        yield c


def test_every_method_works_through_the_router_and_writes_are_logged(cluster: Cluster) -> None:
    with StorefrontClient(cluster.router_target, ACME_KEY) as client:
        order = client.create_order("c-1", "DE", LINES, request_id="r-create")
        assert order.zone == "eu" and order.order_id.startswith("eu-")
        assert client.get_order(order.order_id) == order
        confirmed = client.update_order_status(order.order_id, OrderStatus.CONFIRMED, expected_version=1)
        assert confirmed.status == pb.CONFIRMED and confirmed.version == 2
        cancelled = client.cancel_order(order.order_id, reason="changed mind")
        assert cancelled.status == pb.CANCELLED
        us_order = client.create_order("c-2", "US", LINES)
        assert us_order.zone == "us"
        listed = client.list_orders(zone="eu")
        assert [o.order_id for o in listed.orders] == [order.order_id]
        with client.watch_order_events(zone="eu", stop_at_end=True, timeout=5) as stream:
            kinds = [e.type for e in stream]
        assert kinds == [pb.ORDER_CREATED, pb.ORDER_STATUS_CHANGED, pb.ORDER_CANCELLED]
        # A replay through the router returns the stored answer (the zone database holds the key).
        assert client.create_order("c-1", "DE", LINES, request_id="r-create") == order

    records = cluster.residency_records()
    assert [(r["method"], r["zone"], r["region"], r["decision"]) for r in records] == [
        ("CreateOrder", "eu", "eu-west", "served"),
        ("UpdateOrderStatus", "eu", "eu-west", "served"),
        ("CancelOrder", "eu", "eu-west", "served"),
        ("CreateOrder", "us", "us-east", "served"),
        ("CreateOrder", "eu", "eu-west", "served"),
    ]
    assert records[0]["tenant"] == "acme" and records[0]["request_id"] == "r-create"
    report = verify_residency(cluster.log_path, cluster.topology)
    assert report.ok and report.served == 5
    assert cluster.router is not None and cluster.router.residency_log.served("eu") == 4


def test_zone_is_required_and_the_tenant_is_authenticated_at_the_router(cluster: Cluster) -> None:
    with StorefrontClient(cluster.router_target, ACME_KEY) as client:
        with pytest.raises(InvalidArgument) as bad:
            client.list_orders()
        assert bad.value.violations[0].field == "zone"
        with pytest.raises(InvalidArgument):
            list(client.watch_order_events(stop_at_end=True, timeout=5))
    with StorefrontClient(cluster.router_target, "not-a-key") as stranger, pytest.raises(Unauthenticated):
        stranger.get_order("eu-1-" + "0" * 26)
    with raw_stub(cluster.router_target, ACME_KEY) as raw:
        code, _, _ = rpc_failure(
            lambda: raw.stub.GetOrder(pb.GetOrderRequest(order_id="nope"), metadata=raw.metadata)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_restricted_tenant_is_refused_at_the_router_without_touching_a_region(cluster: Cluster) -> None:
    before = row_counts(cluster.topology.zones["us"].database_url)
    with StorefrontClient(cluster.router_target, EU_ONLY_KEY) as client:
        with pytest.raises(ResidencyViolation):
            client.create_order("c-9", "US", LINES, request_id="r-us")
        assert client.create_order("c-8", "FR", LINES).zone == "eu"
    assert row_counts(cluster.topology.zones["us"].database_url) == before
    refused = cluster.residency_records()[0]
    assert (refused["decision"], refused["region"], refused["zone"]) == ("refused", "", "us")
    assert refused["code"] == "FAILED_PRECONDITION"


def test_drained_home_fails_over_within_the_zone_after_a_placement_move(cluster: Cluster) -> None:
    shard = cluster.topology.shard("acme", "eu")
    with StorefrontClient(cluster.router_target, ACME_KEY) as client:
        order = client.create_order("c-1", "DE", LINES)
        cluster.stop_region("eu-west")  # drains and deregisters
        cluster.wait_unhealthy("eu-west")
        # Not moved yet: eu-central is not home, answers FENCED, and the router never leaves the zone.
        # (The router passes FENCED on when its retries outlast the deadline; the client may see its
        # own DEADLINE_EXCEEDED first. Either way nothing was written.)
        with pytest.raises((Fenced, grpc.RpcError)) as refused:
            client.update_order_status(order.order_id, OrderStatus.CONFIRMED, timeout=0.5)
        if isinstance(refused.value, grpc.RpcError):
            assert refused.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert client.get_order(order.order_id).version == 1
        cluster.admin.set_placement(shard, "eu-central", None)
        confirmed = client.update_order_status(order.order_id, OrderStatus.CONFIRMED)
        assert confirmed.version == 2
    last = cluster.residency_records()[-1]
    assert (last["region"], last["decision"]) == ("eu-central", "served")
    assert verify_residency(cluster.log_path, cluster.topology).ok

    # The old home comes back with the coordinator's view: it is not home, so it refuses.
    old_home = cluster.start_region("eu-west")
    with raw_stub(old_home.target, ACME_KEY) as raw:
        change = pb.CancelOrderRequest(request_id="r-zombie", order_id=order.order_id)
        code, err, _ = rpc_failure(lambda: raw.stub.CancelOrder(change, metadata=raw.metadata))
    assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, Fenced)
    cluster.stop_region("eu-west")
    # A zombie with a stale view (still epoch 0) is fenced by the zone database itself.
    zombie = cluster.start_region("eu-west", placement=None, coordinator=None)
    with raw_stub(zombie.target, ACME_KEY) as raw:
        code, err, _ = rpc_failure(lambda: raw.stub.CancelOrder(change, metadata=raw.metadata))
    assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, Fenced)
    assert "zone database" in str(err)


def test_a_zone_without_healthy_regions_is_unavailable_and_never_spills(cluster: Cluster) -> None:
    eu_before = row_counts(cluster.topology.zones["eu"].database_url)
    cluster.stop_region("us-east")
    cluster.stop_region("us-west")
    cluster.wait_unhealthy("us-east", "us-west")
    with raw_stub(cluster.router_target, ACME_KEY) as raw:
        started = time.monotonic()
        code, err, _ = rpc_failure(
            lambda: raw.stub.CreateOrder(
                create_request("r-us", country="US"), metadata=raw.metadata, timeout=5
            )
        )
    assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, ZoneUnavailable)
    assert time.monotonic() - started < 3.0  # answered at once (plus client retries), not at 5 s
    assert row_counts(cluster.topology.zones["eu"].database_url) == eu_before
    record = cluster.residency_records()[-1]
    assert (record["zone"], record["region"], record["decision"]) == ("us", "", "zone_unavailable")
    with StorefrontClient(cluster.router_target, ACME_KEY) as client:
        assert client.create_order("c-1", "DE", LINES).zone == "eu"  # the other zone is unaffected


def test_a_tiny_deadline_ends_in_deadline_exceeded_not_a_hang(cluster: Cluster) -> None:
    with raw_stub(cluster.router_target, ACME_KEY) as raw:
        started = time.monotonic()
        code, _, _ = rpc_failure(
            lambda: raw.stub.CreateOrder(create_request("r-fast"), metadata=raw.metadata, timeout=0.001)
        )
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.0


def test_a_region_whose_session_is_lost_or_suspended_refuses_writes(cluster: Cluster) -> None:
    region = cluster.regions["eu-west"]
    coordinator = cluster.coordinators["eu-west"]
    assert region.server is not None and region.server.membership is not None
    placement = region.server.membership.placement
    shard = cluster.topology.shard("acme", "eu")
    seen: list[object] = []

    def during_lost(state: object) -> None:
        if getattr(state, "name", "") == "LOST":
            try:
                seen.append(placement.held_epoch(shard))
            except Fenced as exc:
                seen.append(exc)

    coordinator.add_state_listener(during_lost)
    coordinator.expire_session()
    assert len(seen) == 1 and isinstance(seen[0], Fenced)
    # After LOST -> CONNECTED it re-registers and writes again.
    deadline = time.monotonic() + 5
    while not coordinator.instances("eu-west") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert coordinator.instances("eu-west")
    with StorefrontClient(cluster.router_target, ACME_KEY) as client:
        order = client.create_order("c-1", "DE", LINES)

    coordinator.suspend_session()  # type: ignore[attr-defined]
    with raw_stub(region.target, ACME_KEY) as raw:
        change = pb.CancelOrderRequest(request_id="r-suspended", order_id=order.order_id)
        code, err, _ = rpc_failure(lambda: raw.stub.CancelOrder(change, metadata=raw.metadata, timeout=5))
    assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, Fenced)
    coordinator.resume_session()  # type: ignore[attr-defined]
    with StorefrontClient(cluster.router_target, ACME_KEY) as client:
        assert client.cancel_order(order.order_id).status == pb.CANCELLED


def test_the_forwarded_call_carries_the_callers_remaining_time(tmp_path: Path) -> None:
    """A slow us-east instance (a stand-in server) sees the client's deadline, and the client gets
    DEADLINE_EXCEEDED on time: the router neither extends the deadline nor hangs."""
    topology = router_topology(f"sqlite:///{tmp_path / 'eu.db'}", f"sqlite:///{tmp_path / 'us.db'}")
    seen: list[float] = []

    async def slow_create(_raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        seen.append(context.time_remaining())
        await asyncio.sleep(10)
        return b""

    loop = LoopThread("slow-region")

    async def start_slow() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        handlers = {"CreateOrder": grpc.unary_unary_rpc_method_handler(slow_create)}
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
        checks = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(checks, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await checks.set("", health_pb2.HealthCheckResponse.SERVING)
        return server, port

    slow, port = loop.run(start_slow())
    try:
        with router_cluster(topology, tmp_path, regions=("eu-west",)) as cluster:
            cluster.admin.register_instance("us-east", "slow-1", f"127.0.0.1:{port}")
            cluster.wait_healthy("us-east")
            with raw_stub(cluster.router_target, ACME_KEY) as raw:
                started = time.monotonic()
                code, _, _ = rpc_failure(
                    lambda: raw.stub.CreateOrder(
                        create_request("r-slow", country="US"), metadata=raw.metadata, timeout=1.0
                    )
                )
                elapsed = time.monotonic() - started
    finally:
        loop.run(slow.stop(0))
        loop.close()
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.9 < elapsed < 2.0
    # grpc-timeout travels rounded up to its unit on each hop (two hops here): a few ms over 1.0 is
    # that rounding; an extended deadline (e.g. a fresh default per hop) would be far over.
    assert len(seen) == 1 and 0.5 < seen[0] <= 1.03
