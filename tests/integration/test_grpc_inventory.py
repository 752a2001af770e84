"""ordermesh.v1.InventoryService end to end over real gRPC, against SQLite and a real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from ordermesh.api.v1 import inventory_pb2 as pb
from ordermesh.api.v1 import orders_pb2 as opb
from ordermesh.clock import ManualClock
from ordermesh.errors import Fenced, IdempotencyKeyReused, InvalidArgument, NotFound, Unauthenticated
from ordermesh.topology import Topology, parse_topology
from region_service.storage import admin
from region_service.storage.engine import make_engine
from tests.integration.inventory_harness import HOLD_US, Stubs, stock_rows, stubs, with_inventory
from tests.integration.region_harness import (
    ACME_KEY,
    GLOBEX_KEY,
    RegionThread,
    create_request,
    eu_database,
    rpc_failure,
    running_region,
    topology_data,
)

SECOND_US = 1_000_000


class Env:
    def __init__(self, topology: Topology, region: RegionThread, clock: ManualClock) -> None:
        self.topology = topology
        self.region = region
        self.clock = clock
        self.url = topology.zones["eu"].database_url

    def rows(self) -> dict[str, int]:
        return stock_rows(self.url)


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    url = eu_database(request.param, request, tmp_path)
    topology = parse_topology(with_inventory(topology_data(url, f"sqlite:///{tmp_path / 'us.db'}")))
    clock = ManualClock()
    with running_region(topology, clock=clock, seal_interval_s=3600) as region:
        yield Env(topology, region, clock)


@pytest.fixture
def acme(env: Env) -> Iterator[Stubs]:
    with stubs(env.region.target, ACME_KEY) as s:
        yield s


def _ts(us: int) -> Timestamp:
    return Timestamp(seconds=us // SECOND_US, nanos=us % SECOND_US * 1000)


def _stock(s: Stubs, warehouse: str, on_hand: int, safety: int = 0, sku: str = "SKU-1") -> pb.StockLevel:
    req = pb.SetStockRequest(zone="eu", warehouse=warehouse, sku=sku, on_hand=on_hand, safety_stock=safety)
    answer: pb.StockLevel = s.call("SetStock", req)
    return answer


def _atp(s: Stubs, tier: int = opb.GOLD, at_us: int | None = None, sku: str = "SKU-1") -> pb.Availability:
    req = pb.GetAvailabilityRequest(zone="eu", sku=sku, tier=tier)  # type: ignore[arg-type]
    if at_us is not None:
        req.at.CopyFrom(_ts(at_us))
    answer: pb.Availability = s.call("GetAvailability", req)
    return answer


def _fails(call: Callable[[], Any]) -> tuple[grpc.StatusCode, Any]:
    code, err, _ = rpc_failure(call)
    return code, err


def test_set_stock_then_availability_per_tier(env: Env, acme: Stubs) -> None:
    level = _stock(acme, "dub-1", 100, safety=10)
    assert level == pb.StockLevel(sku="SKU-1", warehouse="dub-1", on_hand=100, reserved=0, safety_stock=10)
    _stock(acme, "ams-1", 20)
    gold = _atp(acme, opb.GOLD)
    assert [(w.warehouse, w.region, w.available_to_promise) for w in gold.warehouses] == [
        ("ams-1", "eu-west", 20),
        ("dub-1", "eu-west", 90),
    ]
    assert (gold.zone, gold.tier, gold.available_to_promise) == ("eu", opb.GOLD, 110)
    assert gold.as_of == _ts(env.clock.now_us())
    # acme keeps 20 % of the promisable base (110) for GOLD and above: ceil(22) units.
    assert _atp(acme, opb.PLATINUM).available_to_promise == 110
    assert _atp(acme, opb.SILVER).available_to_promise == 88
    unspecified = _atp(acme, opb.CUSTOMER_TIER_UNSPECIFIED)
    assert (unspecified.tier, unspecified.available_to_promise) == (opb.STANDARD, 88)
    # A recount replaces the row; a second SetStock of the same values changes nothing.
    assert _stock(acme, "dub-1", 50, safety=10) == _stock(acme, "dub-1", 50, safety=10)
    assert _atp(acme).available_to_promise == 60
    assert env.rows() == {"stock_levels": 2, "inbound_stock": 0, "reservations": 0}


def test_inbound_counts_from_its_eta_and_receiving_moves_it_on_hand(env: Env, acme: Stubs) -> None:
    _stock(acme, "dub-1", 10)
    eta = env.clock.now_us() + 3600 * SECOND_US
    add = pb.AddInboundRequest(
        zone="eu", inbound_id="po-1", warehouse="dub-1", sku="SKU-1", quantity=30, eta=_ts(eta)
    )
    first = acme.call("AddInbound", add)
    assert (first.inbound_id, first.quantity, first.eta, first.HasField("received_time")) == (
        "po-1",
        30,
        _ts(eta),
        False,
    )
    assert _atp(acme).available_to_promise == 10  # now
    assert _atp(acme, at_us=eta - 1).available_to_promise == 10
    at_eta = _atp(acme, at_us=eta)
    assert (at_eta.available_to_promise, at_eta.warehouses[0].inbound) == (40, 30)
    # Idempotent by inbound_id: the same delivery replays, another one under the same id is refused.
    assert acme.call("AddInbound", add) == first
    other = pb.AddInboundRequest()
    other.CopyFrom(add)
    other.quantity = 31
    code, err = _fails(lambda: acme.call("AddInbound", other))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and isinstance(err, IdempotencyKeyReused)
    assert env.rows()["inbound_stock"] == 1

    env.clock.advance(60)
    receive = pb.ReceiveInboundRequest(zone="eu", inbound_id="po-1")
    level = acme.call("ReceiveInbound", receive)
    assert (level.on_hand, level.reserved) == (40, 0)
    assert acme.call("ReceiveInbound", receive) == level  # once, however often called
    now = _atp(acme)
    assert (now.available_to_promise, now.warehouses[0].inbound) == (40, 0)
    assert _atp(acme, at_us=eta).available_to_promise == 40  # no longer counted as inbound too
    code, err = _fails(
        lambda: acme.call("ReceiveInbound", pb.ReceiveInboundRequest(zone="eu", inbound_id="po-2"))
    )
    assert code == grpc.StatusCode.NOT_FOUND and isinstance(err, NotFound)


def test_create_order_reserves_and_list_reservations_shows_the_holds(env: Env, acme: Stubs) -> None:
    _stock(acme, "dub-1", 10)
    _stock(acme, "ams-1", 10)
    created = env.clock.now_us()
    request = create_request("r-1", qty=3)
    request.customer.tier = opb.GOLD
    order = acme.orders.CreateOrder(request, metadata=acme.metadata, timeout=10)
    assert (order.status, order.customer.tier) == (opb.ALLOCATED, opb.GOLD)
    listed = acme.call("ListReservations", pb.ListReservationsRequest(order_id=order.order_id))
    assert list(listed.reservations) == [
        pb.Reservation(
            reservation_id=f"{order.order_id}/0/dub-1",
            order_id=order.order_id,
            line_no=0,
            sku="SKU-1",
            warehouse="dub-1",
            quantity=3,
            state=pb.HELD,
            expire_time=_ts(created + HOLD_US),
        )
    ]
    dub = _atp(acme).warehouses[1]
    assert (dub.warehouse, dub.reserved, dub.available_to_promise) == ("dub-1", 3, 7)
    # Held units cannot be counted away.
    code, err = _fails(lambda: _stock(acme, "dub-1", 2))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in err.violations] == ["on_hand"]

    cancel = opb.CancelOrderRequest(request_id="r-2", order_id=order.order_id)
    acme.orders.CancelOrder(cancel, metadata=acme.metadata, timeout=10)
    after = acme.call("ListReservations", pb.ListReservationsRequest(order_id=order.order_id))
    assert [r.state for r in after.reservations] == [pb.RELEASED]
    assert _atp(acme).warehouses[1].reserved == 0


def test_other_tenants_and_unknown_orders_are_not_found(env: Env, acme: Stubs) -> None:
    _stock(acme, "dub-1", 10)
    order = acme.orders.CreateOrder(create_request("r-1"), metadata=acme.metadata, timeout=10)
    acme.call(
        "AddInbound",
        pb.AddInboundRequest(
            zone="eu", inbound_id="po-1", warehouse="dub-1", sku="SKU-1", quantity=1, eta=_ts(0)
        ),
    )
    bucket = env.topology.shard("acme", "eu").bucket
    before = env.rows()
    with stubs(env.region.target, GLOBEX_KEY) as globex:
        for order_id in (order.order_id, f"eu-{bucket}-{'0' * 26}", f"us-{bucket}-{'0' * 26}"):
            code, err = _fails(
                lambda o=order_id: globex.call("ListReservations", pb.ListReservationsRequest(order_id=o))
            )
            assert code == grpc.StatusCode.NOT_FOUND and isinstance(err, NotFound), order_id
        receive = pb.ReceiveInboundRequest(zone="eu", inbound_id="po-1")
        code, err = _fails(lambda: globex.call("ReceiveInbound", receive))
        assert code == grpc.StatusCode.NOT_FOUND and isinstance(err, NotFound)
        # Its catalogue is its own: acme's SKU is unknown to globex.
        code, err = _fails(lambda: _atp(globex))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in err.violations] == ["sku"]
    assert env.rows() == before
    assert _atp(acme).warehouses[0].on_hand == 10  # globex's receive moved nothing


EU = {"zone": "eu"}
BAD_REQUESTS: list[tuple[str, Any, set[str]]] = [
    ("SetStock", pb.SetStockRequest(**EU, warehouse="dub-1", sku="SKU-1", on_hand=-1), {"on_hand"}),
    ("SetStock", pb.SetStockRequest(**EU, warehouse="dub-1", sku="SKU-1", on_hand=2**62), {"on_hand"}),
    ("SetStock", pb.SetStockRequest(**EU, warehouse="dub-1", sku="S", safety_stock=-5), {"safety_stock"}),
    ("SetStock", pb.SetStockRequest(**EU, warehouse="dub-1", on_hand=1), {"sku"}),
    ("SetStock", pb.SetStockRequest(zone="us", warehouse="dub-1", sku="SKU-1"), {"zone"}),
    ("SetStock", pb.SetStockRequest(warehouse="dub-1", sku="SKU-1"), {"zone"}),
    ("SetStock", pb.SetStockRequest(**EU, warehouse="nyc-1", sku="SKU-1"), {"warehouse"}),  # us's
    ("SetStock", pb.SetStockRequest(**EU, warehouse="nowhere-9", sku="SKU-1"), {"warehouse"}),
    (
        "AddInbound",
        pb.AddInboundRequest(**EU, inbound_id="p", warehouse="dub-1", sku="SKU-1", quantity=-3, eta=_ts(0)),
        {"quantity"},
    ),
    (
        "AddInbound",
        pb.AddInboundRequest(
            **EU, inbound_id="p", warehouse="dub-1", sku="SKU-1", quantity=2**40, eta=_ts(0)
        ),
        {"quantity"},
    ),
    (
        "AddInbound",
        pb.AddInboundRequest(**EU, inbound_id="p", warehouse="dub-1", sku="SKU-1", quantity=1),
        {"eta"},
    ),
    (
        "AddInbound",
        pb.AddInboundRequest(**EU, inbound_id="p", warehouse="nyc-1", sku="SKU-1", quantity=1, eta=_ts(0)),
        {"warehouse"},
    ),
    ("ReceiveInbound", pb.ReceiveInboundRequest(zone="us", inbound_id="p"), {"zone"}),
    ("GetAvailability", pb.GetAvailabilityRequest(**EU, sku="NEVER-STOCKED"), {"sku"}),
    ("GetAvailability", pb.GetAvailabilityRequest(zone="apac", sku="SKU-1"), {"zone"}),
    ("ListReservations", pb.ListReservationsRequest(order_id="not-an-id"), {"order_id"}),
]


@pytest.mark.parametrize(("method", "request_", "fields"), BAD_REQUESTS)
def test_bad_input_is_invalid_argument_and_writes_nothing(
    env: Env, acme: Stubs, method: str, request_: Any, fields: set[str]
) -> None:
    _stock(acme, "dub-1", 5)
    before = env.rows()
    code, err = _fails(lambda: acme.call(method, request_))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(err, InvalidArgument)
    assert {v.field for v in err.violations} == fields
    assert env.rows() == before
    assert _atp(acme).warehouses[0].on_hand == 5


def test_malformed_bytes_and_missing_keys_are_refused_cleanly(env: Env, acme: Stubs) -> None:
    for method in ("SetStock", "AddInbound", "ReceiveInbound", "GetAvailability", "ListReservations"):
        code, err = _fails(lambda m=method: acme.raw(m, b"\xff\xff\xff\x07garbage"))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(err, InvalidArgument), method
        assert err.violations, method
    with stubs(env.region.target, None) as anonymous:
        code, err = _fails(lambda: _stock(anonymous, "dub-1", 1))
    assert code == grpc.StatusCode.UNAUTHENTICATED and isinstance(err, Unauthenticated)
    assert env.rows() == {"stock_levels": 0, "inbound_stock": 0, "reservations": 0}


def test_health_and_reflection_list_the_inventory_service(env: Env) -> None:
    channel = grpc.insecure_channel(env.region.target)
    try:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="ordermesh.v1.InventoryService"), timeout=5
        )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for r in replies for s in r.list_services_response.service}
        assert {"ordermesh.v1.InventoryService", "ordermesh.v1.OrderService"} <= names
    finally:
        channel.close()


def test_fenced_instance_writes_no_stock(env: Env, acme: Stubs) -> None:
    engine = make_engine(env.url)
    try:  # another region took the shard over behind this instance's back
        admin.set_epoch(engine, env.topology.shard("acme", "eu"), 1, "eu-central", env.clock.now_us())
    finally:
        engine.dispose()
    code, err = _fails(lambda: _stock(acme, "dub-1", 5))
    assert code == grpc.StatusCode.UNAVAILABLE and isinstance(err, Fenced)
    assert env.rows() == {"stock_levels": 0, "inbound_stock": 0, "reservations": 0}


def test_the_running_region_reaps_expired_holds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'eu.db'}"
    topology = parse_topology(with_inventory(topology_data(url, f"sqlite:///{tmp_path / 'us.db'}")))
    clock = ManualClock()
    with (
        running_region(topology, clock=clock, reap_interval_s=0.05) as region,
        stubs(region.target, ACME_KEY) as s,
    ):
        _stock(s, "dub-1", 5)
        order = s.orders.CreateOrder(create_request("r-1", qty=2), metadata=s.metadata, timeout=10)
        assert order.status == opb.ALLOCATED
        clock.advance(HOLD_US / SECOND_US)  # the hold's TTL has run out: the background reaper frees it
        deadline = time.monotonic() + 10
        while _atp(s).warehouses[-1].reserved and time.monotonic() < deadline:
            time.sleep(0.05)
        listed = s.call("ListReservations", pb.ListReservationsRequest(order_id=order.order_id))
        assert [r.state for r in listed.reservations] == [pb.EXPIRED]
        got = s.orders.GetOrder(opb.GetOrderRequest(order_id=order.order_id), metadata=s.metadata, timeout=10)
        assert got.status == opb.ON_HOLD
