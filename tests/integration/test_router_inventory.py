"""InventoryService through a router over real gRPC regions (SQLite per zone, in-memory coordinator):
routing by zone and by order id, same-zone failover, residency log of stock writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ordermesh.api.v1 import inventory_pb2 as pb
from ordermesh.api.v1 import orders_pb2 as opb
from ordermesh.errors import InvalidArgument, NotFound, ZoneUnavailable
from ordermesh.topology import parse_topology
from router.residency_log import verify_residency
from tests.integration.inventory_harness import router_topology_data, stock_rows, stubs
from tests.integration.region_harness import ACME_KEY, create_request, rpc_failure
from tests.integration.router_harness import EU_ONLY_KEY, Cluster, router_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    data = router_topology_data(f"sqlite:///{tmp_path / 'eu.db'}", f"sqlite:///{tmp_path / 'us.db'}")
    with router_cluster(parse_topology(data), tmp_path) as c:
        c.wait_healthy("eu-west", "eu-central", "us-east", "us-west")
        yield c


def _set(zone: str, warehouse: str, on_hand: int) -> pb.SetStockRequest:
    return pb.SetStockRequest(zone=zone, warehouse=warehouse, sku="SKU-1", on_hand=on_hand)


def _atp(zone: str) -> pb.GetAvailabilityRequest:
    return pb.GetAvailabilityRequest(zone=zone, sku="SKU-1", tier=opb.GOLD)


def test_stock_calls_route_by_zone_and_stock_writes_are_logged(cluster: Cluster) -> None:
    with stubs(cluster.router_target, ACME_KEY) as acme:
        acme.call("SetStock", _set("eu", "dub-1", 10))
        acme.call("SetStock", _set("us", "nyc-1", 7))
        inbound = pb.AddInboundRequest(
            zone="eu", inbound_id="po-1", warehouse="fra-1", sku="SKU-1", quantity=5, eta=Timestamp(seconds=1)
        )
        acme.call("AddInbound", inbound)
        acme.call("ReceiveInbound", pb.ReceiveInboundRequest(zone="eu", inbound_id="po-1"))
        eu = acme.call("GetAvailability", _atp("eu"))
        us = acme.call("GetAvailability", _atp("us"))
        assert [(w.warehouse, w.on_hand) for w in eu.warehouses] == [("dub-1", 10), ("fra-1", 5)]
        assert [(w.warehouse, w.on_hand) for w in us.warehouses] == [("nyc-1", 7)]
        order = acme.orders.CreateOrder(create_request("r-1", qty=2), metadata=acme.metadata, timeout=10)
        held = acme.call("ListReservations", pb.ListReservationsRequest(order_id=order.order_id))
        assert [(r.warehouse, r.quantity, r.state) for r in held.reservations] == [("dub-1", 2, pb.HELD)]
    records = cluster.residency_records()
    assert [(r["method"], r["zone"], r["region"], r["decision"], r["request_id"]) for r in records] == [
        ("SetStock", "eu", "eu-west", "served", ""),
        ("SetStock", "us", "us-east", "served", ""),
        ("AddInbound", "eu", "eu-west", "served", "po-1"),
        ("ReceiveInbound", "eu", "eu-west", "served", "po-1"),
        ("CreateOrder", "eu", "eu-west", "served", "r-1"),
    ]  # reads (GetAvailability, ListReservations) are not logged
    assert verify_residency(cluster.log_path, cluster.topology).ok


def test_zone_rules_are_enforced_at_the_router(cluster: Cluster) -> None:
    us_url = cluster.topology.zones["us"].database_url
    with stubs(cluster.router_target, ACME_KEY) as acme:
        for zone, why in (("", "required when calling through a router"), ("mars", "unknown zone 'mars'")):
            code, err, _ = rpc_failure(lambda z=zone: acme.call("SetStock", _set(z, "dub-1", 1)))
            assert code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(err, InvalidArgument)
            assert [(v.field, v.description) for v in err.violations] == [("zone", why)]
        for method in ("SetStock", "GetAvailability", "ListReservations"):
            code, err, _ = rpc_failure(lambda m=method: acme.raw(m, b"\xff\xff\xff\x07"))
            assert code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(err, InvalidArgument), method
        code, err, _ = rpc_failure(
            lambda: acme.call("ListReservations", pb.ListReservationsRequest(order_id="nope"))
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in err.violations] == ["order_id"]
        # A region refuses a warehouse of another zone, and the router passes its answer on.
        code, err, _ = rpc_failure(lambda: acme.call("SetStock", _set("eu", "nyc-1", 1)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in err.violations] == ["warehouse"]
    with stubs(cluster.router_target, EU_ONLY_KEY) as euonly:
        code, err, _ = rpc_failure(lambda: euonly.call("SetStock", _set("us", "nyc-1", 1)))
        assert code == grpc.StatusCode.NOT_FOUND and isinstance(err, NotFound)
        bucket = cluster.topology.shard("euonly", "us").bucket
        listing = pb.ListReservationsRequest(order_id=f"us-{bucket}-{'0' * 26}")
        code, err, _ = rpc_failure(lambda: euonly.call("ListReservations", listing))
        assert code == grpc.StatusCode.NOT_FOUND and isinstance(err, NotFound)
    assert stock_rows(us_url) == {"stock_levels": 0, "inbound_stock": 0, "reservations": 0}
    refused = [(r["method"], r["zone"], r["region"], r["decision"]) for r in cluster.residency_records()]
    assert ("SetStock", "us", "", "refused") in refused
    assert all(decision != "served" for *_, decision in refused)


def test_stock_writes_fail_over_within_the_zone_and_never_spill(cluster: Cluster) -> None:
    with stubs(cluster.router_target, ACME_KEY) as acme:
        cluster.stop_region("eu-west")
        cluster.wait_unhealthy("eu-west")
        # The failover controller's move (not running here): the shard's next home is eu-central.
        cluster.admin.set_placement(cluster.topology.shard("acme", "eu"), "eu-central", None)
        assert acme.call("SetStock", _set("eu", "dub-1", 4)).on_hand == 4
        cluster.stop_region("us-east")
        cluster.stop_region("us-west")
        cluster.wait_unhealthy("us-east", "us-west")
        code, err, _ = rpc_failure(lambda: acme.call("SetStock", _set("us", "nyc-1", 1), timeout=5))
        assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, ZoneUnavailable)
        assert acme.call("GetAvailability", _atp("eu")).available_to_promise == 4
    records = [(r["method"], r["zone"], r["region"], r["decision"]) for r in cluster.residency_records()]
    assert records == [
        ("SetStock", "eu", "eu-central", "served"),
        ("SetStock", "us", "", "zone_unavailable"),
    ]
    assert stock_rows(cluster.topology.zones["us"].database_url)["stock_levels"] == 0
    assert verify_residency(cluster.log_path, cluster.topology).ok
