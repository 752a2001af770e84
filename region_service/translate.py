"""Proto <-> domain translation for ordermesh.v1; total over every proto input.

Whatever arrives (missing submessages, enum numbers no release defines, huge strings, out-of-range
timestamps) becomes domain values or field violations — never an exception other than
InvalidArgument, so no request can crash a servicer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from consistency.allocation import Tier
from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.audit import EventType, SealedEvent
from ordermesh.errors import FieldViolation, InvalidArgument
from ordermesh.money import Money
from ordermesh.order import MAX_LINES, Customer, Order, OrderDraft, OrderLine, validate_draft
from ordermesh.status import OrderStatus
from region_service.orders import StatusChange
from region_service.tokens import EventCursor

# Timestamp's documented range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799
MAX_FILTER_STATUSES = 32

_TO_PB: dict[OrderStatus, pb.OrderStatus] = {s: getattr(pb, s.name) for s in OrderStatus}
_FROM_PB: dict[int, OrderStatus] = {v: k for k, v in _TO_PB.items()}
# CustomerTier numbers are the domain tier + 1: 0 is UNSPECIFIED (read as STANDARD), as proto3 wants.
_TIER_TO_PB: dict[Tier, pb.CustomerTier] = {t: getattr(pb, t.name) for t in Tier}
_TIER_FROM_PB: dict[int, Tier] = {pb.CUSTOMER_TIER_UNSPECIFIED: Tier.STANDARD}
_TIER_FROM_PB.update({v: k for k, v in _TIER_TO_PB.items()})
_EVENT_TO_PB: dict[EventType, pb.OrderEventType] = {
    EventType.CREATED: pb.ORDER_CREATED,
    EventType.STATUS_CHANGED: pb.ORDER_STATUS_CHANGED,
    EventType.CANCELLED: pb.ORDER_CANCELLED,
}


def fingerprint(request: Message) -> str:
    """What an idempotency key remembers of its request: sha256 of it, deterministic, sans request_id."""
    copy = type(request)()
    copy.CopyFrom(request)
    if "request_id" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("request_id")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


def status_from_pb(value: int) -> OrderStatus | None:
    """The domain status of a proto enum number; None for UNSPECIFIED and unknown numbers."""
    return _FROM_PB.get(value)


def status_to_pb(status: OrderStatus) -> pb.OrderStatus:
    return _TO_PB[status]


def tier_from_pb(value: int) -> Tier | None:
    """The domain tier of a CustomerTier number (UNSPECIFIED is STANDARD); None for unknown numbers."""
    return _TIER_FROM_PB.get(value)


def tier_to_pb(tier: int) -> pb.CustomerTier:
    return _TIER_TO_PB[Tier(tier)]


def draft_from_pb(request: pb.CreateOrderRequest) -> OrderDraft:
    """The order a CreateOrderRequest asks for; validation (ordermesh.order.validate_draft) follows.

    Lines beyond MAX_LINES + 1 are not converted: one extra is enough for validation to refuse. A tier
    number no release defines is refused here, with the draft's other violations, since the domain
    cannot hold it."""
    tier = tier_from_pb(request.customer.tier)
    cust = request.customer
    customer = Customer(cust.customer_id, cust.country, 0 if tier is None else int(tier))
    lines = tuple(
        OrderLine(line.sku, line.quantity, Money(line.unit_price.amount_minor, line.unit_price.currency))
        for line in request.lines[: MAX_LINES + 1]
    )
    draft = OrderDraft(customer, lines)
    if tier is None:
        bad = [FieldViolation("customer.tier", "not a CustomerTier value (UNSPECIFIED, STANDARD..PLATINUM)")]
        try:
            validate_draft(draft)
        except InvalidArgument as exc:
            bad = [*exc.violations, *bad]
        raise InvalidArgument.of(bad)
    return draft


def change_from_pb(request: pb.UpdateOrderStatusRequest) -> StatusChange:
    target = status_from_pb(request.status)
    if target is None:
        raise InvalidArgument.single("status", "required: one of the OrderStatus values (not UNSPECIFIED)")
    return StatusChange(request.order_id, target, request.expected_version, request.etag, request.reason)


def cancel_from_pb(request: pb.CancelOrderRequest) -> StatusChange:
    return StatusChange(request.order_id, None, request.expected_version, request.etag, request.reason)


def timestamp_us(ts: Timestamp, field_path: str, bad: list[FieldViolation]) -> int:
    if not MIN_SECONDS <= ts.seconds <= MAX_SECONDS or not 0 <= ts.nanos < 1_000_000_000:
        bad.append(FieldViolation(field_path, "not a valid timestamp (years 1..9999, nanos 0..999999999)"))
        return 0
    return int(ts.seconds) * 1_000_000 + int(ts.nanos) // 1000


def list_filters_from_pb(
    request: pb.ListOrdersRequest,
) -> tuple[frozenset[OrderStatus], int | None, int | None]:
    """(statuses, created_after_us, created_before_us) of a ListOrdersRequest, or InvalidArgument."""
    bad: list[FieldViolation] = []
    statuses: set[OrderStatus] = set()
    if len(request.statuses) > MAX_FILTER_STATUSES:
        bad.append(FieldViolation("statuses", f"at most {MAX_FILTER_STATUSES} entries"))
    else:
        for i, value in enumerate(request.statuses):
            status = status_from_pb(value)
            if status is None:
                bad.append(FieldViolation(f"statuses[{i}]", "not an OrderStatus value (nor UNSPECIFIED)"))
            else:
                statuses.add(status)
    after = (
        timestamp_us(request.created_after, "created_after", bad)
        if request.HasField("created_after")
        else None
    )
    before = (
        timestamp_us(request.created_before, "created_before", bad)
        if request.HasField("created_before")
        else None
    )
    if bad:
        raise InvalidArgument.of(bad)
    return frozenset(statuses), after, before


def timestamp_pb(us: int) -> Timestamp:
    return Timestamp(**_time_fields(us))


def _time_fields(us: int) -> dict[str, int]:
    seconds, micros = divmod(us, 1_000_000)
    return {"seconds": seconds, "nanos": micros * 1000}


def _money_fields(money: Money) -> dict[str, int | str]:
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def order_to_pb(order: Order) -> pb.Order:
    # Nested messages given as dicts: upb builds them in place, where a message object is built and
    # then copied in (half the time of this function, which renders every stored CreateOrder answer).
    customer = order.customer
    return pb.Order(
        name=f"orders/{order.order_id}",
        order_id=order.order_id,
        customer={
            "customer_id": customer.customer_id,
            "country": customer.country,
            "tier": tier_to_pb(customer.tier),
        },
        lines=[
            {"sku": x.sku, "quantity": x.quantity, "unit_price": _money_fields(x.unit_price)}
            for x in order.lines
        ],
        status=status_to_pb(order.status),
        total=_money_fields(order.total),
        version=order.version,
        etag=order.etag,
        zone=order.zone,
        create_time=_time_fields(order.create_time_us),
        update_time=_time_fields(order.update_time_us),
    )


def orders_to_pb(orders: Iterable[Order], next_page_token: str) -> pb.ListOrdersResponse:
    return pb.ListOrdersResponse(orders=[order_to_pb(o) for o in orders], next_page_token=next_page_token)


def event_to_pb(sealed: SealedEvent) -> pb.OrderEvent:
    event = sealed.event
    cursor = EventCursor(event.shard.zone, event.shard.bucket, sealed.sequence)
    return pb.OrderEvent(
        cursor=cursor.encode(),
        event_id=event.event_id,
        order_id=event.order_id,
        type=_EVENT_TO_PB[event.type],
        from_status=status_to_pb(event.from_status) if event.from_status else pb.ORDER_STATUS_UNSPECIFIED,
        to_status=status_to_pb(event.to_status),
        order_version=event.order_version,
        actor=event.actor,
        reason=event.reason,
        time=timestamp_pb(event.occurred_us),
        sequence=sealed.sequence,
        chain_hash=sealed.chain_hash,
    )
