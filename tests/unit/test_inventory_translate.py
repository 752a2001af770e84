"""InventoryService requests become domain values or one InvalidArgument naming every bad proto field;
domain values render back with microsecond timestamps and the API's enum numbers."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from consistency.allocation import Tier
from consistency.inventory import HoldState, Reservation, StockLevel
from ordermesh.api.v1 import inventory_pb2 as pb
from ordermesh.api.v1 import orders_pb2 as opb
from ordermesh.errors import InvalidArgument
from region_service import inventory_translate as tr
from region_service.inventory import Availability, InboundRecord, WarehouseAvailability

ZONE = "eu"
ORDER_ID = "eu-3-0123456789abcdefghjkmnpqrs"


def _fields(call: object) -> dict[str, str]:
    """The field violations of an InvalidArgument raised by `call()`, by field path."""
    with pytest.raises(InvalidArgument) as info:
        call()  # type: ignore[operator]
    return {v.field: v.description for v in info.value.violations}


def test_set_stock_is_translated_when_every_field_is_good() -> None:
    req = pb.SetStockRequest(zone=ZONE, warehouse="dub-1", sku="SKU-1", on_hand=10, safety_stock=2)
    assert tr.stock_change_from_pb(req, ZONE) == tr.StockChange("dub-1", "SKU-1", 10, 2)
    zero = pb.SetStockRequest(zone=ZONE, warehouse="dub-1", sku="SKU-1")
    assert tr.stock_change_from_pb(zero, ZONE).on_hand == 0  # counting a warehouse empty is allowed


def test_set_stock_reports_every_bad_field_at_once() -> None:
    req = pb.SetStockRequest(zone="us", warehouse="", sku="", on_hand=-1, safety_stock=2**62)
    bad = _fields(lambda: tr.stock_change_from_pb(req, ZONE))
    assert bad == {
        "zone": "this region serves zone eu",
        "warehouse": "required",
        "sku": "required",
        "on_hand": "must be 0..1000000000 units",
        "safety_stock": "must be 0..1000000000 units",
    }


@pytest.mark.parametrize(
    ("field", "value", "violation"),
    [
        ("zone", "", "zone"),
        ("sku", "-starts-with-dash", "sku"),
        ("sku", "x" * 65, "sku"),
        ("warehouse", "Dub 1", "warehouse"),
        ("on_hand", 1_000_000_001, "on_hand"),
    ],
)
def test_set_stock_refuses_one_bad_field(field: str, value: object, violation: str) -> None:
    req = pb.SetStockRequest(zone=ZONE, warehouse="dub-1", sku="SKU-1", on_hand=1)
    setattr(req, field, value)
    assert set(_fields(lambda: tr.stock_change_from_pb(req, ZONE))) == {violation}


def test_add_inbound_converts_the_eta_to_microseconds() -> None:
    req = pb.AddInboundRequest(
        zone=ZONE,
        inbound_id="po-1",
        warehouse="dub-1",
        sku="SKU-1",
        quantity=5,
        eta=Timestamp(seconds=1_700_000_000, nanos=123_456_789),
    )
    item = tr.new_inbound_from_pb(req, ZONE)
    assert item == tr.NewInbound("po-1", "dub-1", "SKU-1", 5, 1_700_000_000_123_456)


def test_add_inbound_needs_an_id_a_positive_quantity_and_an_eta() -> None:
    req = pb.AddInboundRequest(zone=ZONE, inbound_id="po 1", warehouse="dub-1", sku="SKU-1", quantity=0)
    bad = _fields(lambda: tr.new_inbound_from_pb(req, ZONE))
    assert set(bad) == {"inbound_id", "quantity", "eta"}
    assert bad["quantity"] == "must be 1..1000000000 units"


@pytest.mark.parametrize(
    "eta",
    [
        Timestamp(seconds=-1),  # before 1970
        Timestamp(seconds=2**62),  # beyond year 9999
        Timestamp(seconds=0, nanos=-5),
        Timestamp(seconds=0, nanos=1_000_000_000),
    ],
)
def test_add_inbound_refuses_an_eta_outside_the_range(eta: Timestamp) -> None:
    req = pb.AddInboundRequest(
        zone=ZONE, inbound_id="po-1", warehouse="dub-1", sku="SKU-1", quantity=1, eta=eta
    )
    assert set(_fields(lambda: tr.new_inbound_from_pb(req, ZONE))) == {"eta"}


def test_receive_inbound_checks_zone_and_id() -> None:
    assert tr.inbound_id_from_pb(pb.ReceiveInboundRequest(zone=ZONE, inbound_id="po-1"), ZONE) == "po-1"
    bad = _fields(lambda: tr.inbound_id_from_pb(pb.ReceiveInboundRequest(zone="apac"), ZONE))
    assert bad == {
        "zone": "this region serves zone eu",
        "inbound_id": "required: 1..128 printable ASCII characters, no spaces",
    }


@pytest.mark.parametrize(
    ("number", "tier"),
    [
        (opb.CUSTOMER_TIER_UNSPECIFIED, Tier.STANDARD),
        (opb.STANDARD, Tier.STANDARD),
        (opb.SILVER, Tier.SILVER),
        (opb.GOLD, Tier.GOLD),
        (opb.PLATINUM, Tier.PLATINUM),
    ],
)
def test_availability_query_maps_the_tier(number: int, tier: Tier) -> None:
    req = pb.GetAvailabilityRequest(zone=ZONE, sku="SKU-1", tier=number)  # type: ignore[arg-type]
    assert tr.availability_query_from_pb(req, ZONE) == tr.AvailabilityQuery("SKU-1", None, tier)


def test_availability_query_at_an_instant_and_refusals() -> None:
    at = pb.GetAvailabilityRequest(zone=ZONE, sku="SKU-1", at=Timestamp(seconds=10, nanos=2_000))
    assert tr.availability_query_from_pb(at, ZONE).at_us == 10_000_002
    req = pb.GetAvailabilityRequest(zone="", sku="", at=Timestamp(seconds=-5))
    req.tier = 99  # type: ignore[assignment]  # open enum: a newer client's number must be refused cleanly
    assert set(_fields(lambda: tr.availability_query_from_pb(req, ZONE))) == {"zone", "sku", "at", "tier"}


def test_list_reservations_needs_a_well_formed_order_id() -> None:
    assert tr.order_id_from_pb(pb.ListReservationsRequest(order_id=ORDER_ID)) == ORDER_ID
    assert set(_fields(lambda: tr.order_id_from_pb(pb.ListReservationsRequest(order_id="42")))) == {
        "order_id"
    }
    assert _fields(lambda: tr.order_id_from_pb(pb.ListReservationsRequest())) == {"order_id": "required"}


def test_stock_level_renders_every_field() -> None:
    assert tr.stock_level_to_pb(StockLevel("SKU-1", "dub-1", 10, 3, 2)) == pb.StockLevel(
        sku="SKU-1", warehouse="dub-1", on_hand=10, reserved=3, safety_stock=2
    )


def test_inbound_renders_received_time_only_once_received() -> None:
    on_its_way = tr.inbound_to_pb(InboundRecord("po-1", "SKU-1", "dub-1", 5, 1_500_000, None))
    assert not on_its_way.HasField("received_time")
    assert (on_its_way.eta.seconds, on_its_way.eta.nanos) == (1, 500_000_000)
    received = tr.inbound_to_pb(InboundRecord("po-1", "SKU-1", "dub-1", 5, 1_500_000, 2_000_001))
    assert received.HasField("received_time")
    assert (received.received_time.seconds, received.received_time.nanos) == (2, 1_000)


def test_availability_renders_tier_time_and_warehouses() -> None:
    found = Availability(
        "SKU-1",
        ZONE,
        3_000_000,
        Tier.STANDARD,
        7,
        (WarehouseAvailability("dub-1", "eu-west", 10, 1, 2, 4, 11),),
    )
    out = tr.availability_to_pb(found)
    assert (out.sku, out.zone, out.as_of.seconds, out.available_to_promise) == ("SKU-1", ZONE, 3, 7)
    assert out.tier == opb.STANDARD  # answered explicitly, never UNSPECIFIED
    assert list(out.warehouses) == [
        pb.WarehouseAvailability(
            warehouse="dub-1",
            region="eu-west",
            on_hand=10,
            reserved=1,
            safety_stock=2,
            inbound=4,
            available_to_promise=11,
        )
    ]


def test_every_reservation_state_has_its_api_value() -> None:
    assert set(pb.ReservationState.keys()) == {s.name for s in HoldState} | {"RESERVATION_STATE_UNSPECIFIED"}
    for state in HoldState:
        hold = Reservation(f"{ORDER_ID}/0/dub-1", ORDER_ID, 0, "SKU-1", "dub-1", 2, state, 9_000_000)
        out = tr.reservations_to_pb([hold]).reservations[0]
        assert pb.ReservationState.Name(out.state) == state.name
        assert (out.reservation_id, out.line_no, out.quantity, out.expire_time.seconds) == (
            hold.reservation_id,
            0,
            2,
            9,
        )
