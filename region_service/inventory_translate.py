"""Proto <-> domain translation for ordermesh.v1.InventoryService; total over every proto input.

Each request is checked for its shape (required fields, unit ranges, timestamps, enum numbers, the zone
this region serves) and every problem is reported at once as a field violation named by its proto path,
before the InventoryBook is called; what only the topology or the database knows (is the warehouse in
this zone, does the order exist) is the book's to refuse. No input raises anything but InvalidArgument.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from consistency.allocation import Tier
from consistency.inventory import MAX_STOCK, HoldState, Reservation, StockLevel
from consistency.reservations import StrategyName
from consistency.stock import SKU_RULE
from consistency.zone_stock import MAX_GLOBAL_STOCK
from ordermesh.api.v1 import inventory_pb2 as pb
from ordermesh.errors import FieldViolation, InvalidArgument
from ordermesh.ids import parse_order_id
from ordermesh.order import REQUEST_ID, SKU
from ordermesh.topology_inventory import WAREHOUSE
from region_service.inventory import Availability, InboundRecord
from region_service.pool_peers import PoolReport
from region_service.pool_translate import STRATEGY_FROM_PB, STRATEGY_TO_PB, slice_to_pb
from region_service.translate import tier_from_pb, tier_to_pb, timestamp_pb, timestamp_us

_STATE_TO_PB: dict[HoldState, pb.ReservationState] = {s: getattr(pb, s.name) for s in HoldState}


@dataclass(frozen=True)
class StockChange:
    """What a SetStockRequest asks for."""

    warehouse: str
    sku: str
    on_hand: int
    safety_stock: int


@dataclass(frozen=True)
class NewInbound:
    """What an AddInboundRequest announces."""

    inbound_id: str
    warehouse: str
    sku: str
    quantity: int
    eta_us: int


@dataclass(frozen=True)
class AvailabilityQuery:
    """What a GetAvailabilityRequest asks (at_us None: now)."""

    sku: str
    at_us: int | None
    tier: Tier


def _zone(requested: str, served: str, bad: list[FieldViolation]) -> None:
    if not requested:
        bad.append(FieldViolation("zone", "required: the zone whose stock this is"))
    elif requested != served:
        bad.append(FieldViolation("zone", f"this region serves zone {served}"))


def _sku(sku: str, bad: list[FieldViolation]) -> None:
    if not sku:
        bad.append(FieldViolation("sku", "required"))
    elif not SKU.fullmatch(sku):
        bad.append(FieldViolation("sku", SKU_RULE))


def _warehouse(name: str, bad: list[FieldViolation]) -> None:
    if not name:
        bad.append(FieldViolation("warehouse", "required"))
    elif not WAREHOUSE.fullmatch(name):
        bad.append(FieldViolation("warehouse", "not a warehouse name (2..32 of a-z 0-9 -, starting a-z)"))


def _units(value: int, field_path: str, low: int, bad: list[FieldViolation]) -> None:
    if not low <= value <= MAX_STOCK:
        bad.append(FieldViolation(field_path, f"must be {low}..{MAX_STOCK} units"))


def _inbound_id(inbound_id: str, bad: list[FieldViolation]) -> None:
    if not REQUEST_ID.fullmatch(inbound_id):
        bad.append(FieldViolation("inbound_id", "required: 1..128 printable ASCII characters, no spaces"))


def _instant(ts: Timestamp, field_path: str, bad: list[FieldViolation]) -> int:
    """Microseconds since the epoch of a timestamp that must lie at or after 1970-01-01."""
    before = len(bad)
    us = timestamp_us(ts, field_path, bad)
    if len(bad) == before and us < 0:
        bad.append(FieldViolation(field_path, "must be at or after 1970-01-01T00:00:00Z"))
    return us


def _raise(bad: list[FieldViolation]) -> None:
    if bad:
        raise InvalidArgument.of(bad)


def stock_change_from_pb(request: pb.SetStockRequest, zone: str) -> StockChange:
    bad: list[FieldViolation] = []
    _zone(request.zone, zone, bad)
    _warehouse(request.warehouse, bad)
    _sku(request.sku, bad)
    _units(request.on_hand, "on_hand", 0, bad)
    _units(request.safety_stock, "safety_stock", 0, bad)
    _raise(bad)
    return StockChange(request.warehouse, request.sku, request.on_hand, request.safety_stock)


def new_inbound_from_pb(request: pb.AddInboundRequest, zone: str) -> NewInbound:
    bad: list[FieldViolation] = []
    _zone(request.zone, zone, bad)
    _inbound_id(request.inbound_id, bad)
    _warehouse(request.warehouse, bad)
    _sku(request.sku, bad)
    _units(request.quantity, "quantity", 1, bad)
    eta_us = 0
    if request.HasField("eta"):
        eta_us = _instant(request.eta, "eta", bad)
    else:
        bad.append(FieldViolation("eta", "required: the estimated arrival"))
    _raise(bad)
    return NewInbound(request.inbound_id, request.warehouse, request.sku, request.quantity, eta_us)


def inbound_id_from_pb(request: pb.ReceiveInboundRequest, zone: str) -> str:
    bad: list[FieldViolation] = []
    _zone(request.zone, zone, bad)
    _inbound_id(request.inbound_id, bad)
    _raise(bad)
    return request.inbound_id


def availability_query_from_pb(request: pb.GetAvailabilityRequest, zone: str) -> AvailabilityQuery:
    bad: list[FieldViolation] = []
    _zone(request.zone, zone, bad)
    _sku(request.sku, bad)
    at_us = _instant(request.at, "at", bad) if request.HasField("at") else None
    tier = tier_from_pb(request.tier)
    if tier is None:
        bad.append(FieldViolation("tier", "not a CustomerTier value (UNSPECIFIED, STANDARD..PLATINUM)"))
    _raise(bad)
    return AvailabilityQuery(request.sku, at_us, Tier.STANDARD if tier is None else tier)


def order_id_from_pb(request: pb.ListReservationsRequest) -> str:
    parse_order_id(request.order_id)  # a malformed id names the field; an unknown one is the book's
    return request.order_id


def stock_level_to_pb(level: StockLevel) -> pb.StockLevel:
    return pb.StockLevel(
        sku=level.sku,
        warehouse=level.warehouse,
        on_hand=level.on_hand,
        reserved=level.reserved,
        safety_stock=level.safety_stock,
    )


def inbound_to_pb(record: InboundRecord) -> pb.InboundStock:
    out = pb.InboundStock(
        inbound_id=record.inbound_id,
        sku=record.sku,
        warehouse=record.warehouse,
        quantity=record.quantity,
        eta=timestamp_pb(record.eta_us),
    )
    if record.received_us is not None:
        out.received_time.CopyFrom(timestamp_pb(record.received_us))
    return out


def availability_to_pb(found: Availability) -> pb.Availability:
    return pb.Availability(
        sku=found.sku,
        zone=found.zone,
        as_of=timestamp_pb(found.at_us),
        tier=tier_to_pb(found.tier),
        available_to_promise=found.available_to_promise,
        warehouses=[
            pb.WarehouseAvailability(
                warehouse=w.warehouse,
                region=w.region,
                on_hand=w.on_hand,
                reserved=w.reserved,
                safety_stock=w.safety_stock,
                inbound=w.inbound,
                available_to_promise=w.atp,
            )
            for w in found.warehouses
        ],
    )


def reservation_to_pb(hold: Reservation) -> pb.Reservation:
    return pb.Reservation(
        reservation_id=hold.reservation_id,
        order_id=hold.order_id,
        line_no=hold.line_no,
        sku=hold.sku,
        warehouse=hold.warehouse,
        quantity=hold.quantity,
        state=_STATE_TO_PB[hold.state],
        expire_time=timestamp_pb(hold.expires_us),
    )


def reservations_to_pb(holds: Iterable[Reservation]) -> pb.ListReservationsResponse:
    return pb.ListReservationsResponse(reservations=[reservation_to_pb(h) for h in holds])


# -- multi-zone pools (ConfigurePool, GetPool) -------------------------------------------------------


@dataclass(frozen=True)
class PoolConfig:
    """What a ConfigurePoolRequest asks for (this zone's slice of the pool)."""

    sku: str
    strategy: StrategyName
    zones: tuple[str, ...]
    owner: str | None
    stock: int
    low_watermark: int
    quotas: tuple[int, ...] | None


def pool_config_from_pb(request: pb.ConfigurePoolRequest, zone: str, usable: Collection[str]) -> PoolConfig:
    """`usable`: the zones the tenant may use (every zone of the pool must be one)."""
    bad: list[FieldViolation] = []
    _zone(request.zone, zone, bad)
    _sku(request.sku, bad)
    strategy = STRATEGY_FROM_PB.get(int(request.strategy))
    if strategy is None:
        bad.append(FieldViolation("strategy", "required: POOL_STRATEGY_STRONG, _ESCROW or _EVENTUAL"))
    zones = tuple(request.zones)
    if not zones:
        bad.append(FieldViolation("zones", "required: every zone that sells the sku"))
    elif len(set(zones)) != len(zones):
        bad.append(FieldViolation("zones", "distinct zone names"))
    for i, name in enumerate(zones):
        if name not in usable:
            bad.append(FieldViolation(f"zones[{i}]", f"{name[:32]!r} is not a zone this tenant may use"))
    if zones and request.zone and request.zone not in zones:
        bad.append(FieldViolation("zone", "must be one of zones"))
    if strategy is StrategyName.STRONG:
        if request.owner not in zones:
            bad.append(FieldViolation("owner", "required for a strong pool: one of zones"))
    elif request.owner:
        bad.append(FieldViolation("owner", "only a strong pool has an owner"))
    if not 0 <= request.stock <= MAX_GLOBAL_STOCK:
        bad.append(FieldViolation("stock", f"must be 0..{MAX_GLOBAL_STOCK} units"))
    if not 0 <= request.low_watermark <= max(request.stock, 0):
        bad.append(FieldViolation("low_watermark", "must be 0..stock"))
    quotas = tuple(request.quotas)
    if quotas:
        if strategy is not StrategyName.ESCROW:
            bad.append(FieldViolation("quotas", "only an escrow pool has quotas"))
        elif len(quotas) != len(zones) or min(quotas) < 0 or sum(quotas) != request.stock:
            bad.append(FieldViolation("quotas", "one quota >= 0 per zone, summing to stock"))
    _raise(bad)
    assert strategy is not None
    return PoolConfig(
        request.sku,
        strategy,
        zones,
        request.owner or None,
        request.stock,
        request.low_watermark,
        quotas or None,
    )


def pool_key_from_pb(request: pb.GetPoolRequest, zone: str) -> str:
    bad: list[FieldViolation] = []
    _zone(request.zone, zone, bad)
    _sku(request.sku, bad)
    _raise(bad)
    return request.sku


def pool_to_pb(report: PoolReport, sku: str) -> pb.Pool:
    s = report.summary
    return pb.Pool(
        sku=sku,
        strategy=STRATEGY_TO_PB[StrategyName(s.strategy)],
        stock=s.stock,
        free=s.free,
        held=s.held,
        committed=s.committed,
        oversold=s.oversold,
        in_transit=report.in_transit,
        conserved=report.conserved,
        slices=[slice_to_pb(piece, sku) for piece in report.slices],
    )
