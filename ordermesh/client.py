"""StorefrontClient: a typed, synchronous client of ordermesh.v1.OrderService.

Failure semantics: UNAVAILABLE and ABORTED answers are retried by the channel itself (service
config retryPolicy) — safe only because every mutation carries a request_id, generated here when
the caller gives none, so a retry replays instead of applying twice. Errors with an ordermesh
ErrorInfo surface as the matching OrdermeshError (the grpc.RpcError is its __cause__); anything
else (deadline, transport) surfaces as the grpc.RpcError itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import grpc

from ordermesh.api.v1 import inventory_pb2 as ipb
from ordermesh.api.v1 import inventory_pb2_grpc as ipb_grpc
from ordermesh.api.v1 import orders_pb2 as pb
from ordermesh.api.v1 import orders_pb2_grpc as pb_grpc
from ordermesh.order import OrderLine
from ordermesh.rpc_errors import from_rpc_error
from ordermesh.status import OrderStatus

SERVICE = "ordermesh.v1.OrderService"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
R = TypeVar("R")

RETRY_SERVICE_CONFIG: dict[str, Any] = {
    "methodConfig": [
        {
            "name": [{"service": SERVICE}],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.05s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE", "ABORTED"],
            },
        }
    ]
}


# A peer that restarts (failover, failback, deploy) is usually back within a second; gRPC's default
# reconnect backoff (1 s, growing x1.6 up to 120 s) kept channels failing fast long after it was.
# Not grpc.min_reconnect_backoff_ms: gRPC also uses it as the minimum connect timeout (default 20 s),
# and lowering it fails connections to a slow or briefly paused peer before its SETTINGS frame.
RECONNECT_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def channel_options(service_config: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """Options for every ordermesh channel: no port sharing, explicit sizes, declared retries,
    prompt reconnects."""
    return [
        ("grpc.so_reuseport", 0),
        *RECONNECT_OPTIONS,
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_metadata_size", 64 * 1024),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(service_config or RETRY_SERVICE_CONFIG)),
    ]


def status_to_pb(status: OrderStatus) -> pb.OrderStatus:
    value: pb.OrderStatus = getattr(pb, status.name)
    return value


def _line(line: OrderLine | pb.OrderLine) -> pb.OrderLine:
    if isinstance(line, pb.OrderLine):
        return line
    return pb.OrderLine(
        sku=line.sku,
        quantity=line.quantity,
        unit_price=pb.Money(amount_minor=line.unit_price.amount_minor, currency=line.unit_price.currency),
    )


class EventStream:
    """The events of a WatchOrderEvents call; iterate it, and cancel() (or leave the with-block) to stop."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[pb.OrderEvent]:
        try:
            yield from self._call
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise _translated(exc) from exc

    def cancel(self) -> None:
        self._call.cancel()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cancel()


def _translated(exc: grpc.RpcError) -> Exception:
    domain = from_rpc_error(exc)
    return domain if domain is not None else exc


class StorefrontClient:
    """One tenant's view of the order API.

    >>> with StorefrontClient("localhost:7001", api_key) as client:
    ...     order = client.create_order("c-1", "DE", [OrderLine("SKU-1", 2, Money(1999, "EUR"))])
    """

    def __init__(self, target: str, api_key: str, *, timeout: float = 5.0) -> None:
        self.target = target
        self.timeout = timeout
        self.metadata: tuple[tuple[str, str], ...] = (("x-api-key", api_key),)
        self.channel = grpc.insecure_channel(target, options=channel_options())
        self.stub: Any = pb_grpc.OrderServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.stock: Any = ipb_grpc.InventoryServiceStub(self.channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> StorefrontClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: Callable[..., Any], request: Any, timeout: float | None, kind: type[R]) -> R:
        try:
            answer = method(request, metadata=self.metadata, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            raise _translated(exc) from exc
        if not isinstance(answer, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(answer).__name__}")
        return answer

    def create_order(
        self,
        customer_id: str,
        country: str,
        lines: Sequence[OrderLine | pb.OrderLine],
        *,
        request_id: str | None = None,
        tier: int = 0,
        timeout: float | None = None,
    ) -> pb.Order:
        """`tier`: a pb.CustomerTier value (0: unspecified, i.e. standard)."""
        request = pb.CreateOrderRequest(
            request_id=request_id or str(uuid.uuid4()),
            customer=pb.Customer(customer_id=customer_id, country=country, tier=tier),  # type: ignore[arg-type]
            lines=[_line(x) for x in lines],
        )
        return self._call(self.stub.CreateOrder, request, timeout, pb.Order)

    # -- inventory (ordermesh.v1.InventoryService) ---------------------------------------------------

    def set_stock(
        self,
        zone: str,
        warehouse: str,
        sku: str,
        on_hand: int,
        safety_stock: int = 0,
        *,
        timeout: float | None = None,
    ) -> ipb.StockLevel:
        request = ipb.SetStockRequest(
            zone=zone, warehouse=warehouse, sku=sku, on_hand=on_hand, safety_stock=safety_stock
        )
        return self._call(self.stock.SetStock, request, timeout, ipb.StockLevel)

    def availability(
        self, zone: str, sku: str, *, tier: int = 0, timeout: float | None = None
    ) -> ipb.Availability:
        request = ipb.GetAvailabilityRequest(zone=zone, sku=sku, tier=tier)  # type: ignore[arg-type]
        return self._call(self.stock.GetAvailability, request, timeout, ipb.Availability)

    def configure_pool(
        self,
        zone: str,
        sku: str,
        strategy: str,
        zones: Sequence[str],
        stock: int,
        *,
        owner: str = "",
        low_watermark: int = 0,
        quotas: Sequence[int] = (),
        timeout: float | None = None,
    ) -> ipb.PoolSlice:
        """One zone's side of a multi-zone pool (`strategy`: strong, escrow or eventual); call it for
        every zone in `zones`. Configuring the same pool again is a no-op."""
        request = ipb.ConfigurePoolRequest(
            zone=zone,
            sku=sku,
            strategy=f"POOL_STRATEGY_{strategy.upper()}",  # the enum value by name
            zones=list(zones),
            owner=owner,
            stock=stock,
            low_watermark=low_watermark,
            quotas=list(quotas),
        )
        return self._call(self.stock.ConfigurePool, request, timeout, ipb.PoolSlice)

    def pool(self, zone: str, sku: str, *, timeout: float | None = None) -> ipb.Pool:
        """The pool's global figures as seen from `zone` (every zone's slice, summed by its strategy)."""
        request = ipb.GetPoolRequest(zone=zone, sku=sku)
        return self._call(self.stock.GetPool, request, timeout, ipb.Pool)

    def reservations(self, order_id: str, *, timeout: float | None = None) -> list[ipb.Reservation]:
        request = ipb.ListReservationsRequest(order_id=order_id)
        answer = self._call(self.stock.ListReservations, request, timeout, ipb.ListReservationsResponse)
        return list(answer.reservations)

    def get_order(self, order_id: str, *, timeout: float | None = None) -> pb.Order:
        return self._call(self.stub.GetOrder, pb.GetOrderRequest(order_id=order_id), timeout, pb.Order)

    def list_orders(
        self,
        *,
        zone: str = "",
        page_size: int = 0,
        page_token: str = "",
        statuses: Sequence[OrderStatus] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        timeout: float | None = None,
    ) -> pb.ListOrdersResponse:
        request = pb.ListOrdersRequest(
            zone=zone,
            page_size=page_size,
            page_token=page_token,
            statuses=[status_to_pb(s) for s in statuses],
        )
        if created_after is not None:
            request.created_after.FromDatetime(created_after)
        if created_before is not None:
            request.created_before.FromDatetime(created_before)
        return self._call(self.stub.ListOrders, request, timeout, pb.ListOrdersResponse)

    def iter_orders(self, *, zone: str = "", page_size: int = 0, **filters: Any) -> Iterator[pb.Order]:
        """Every order matching the filters, following next_page_token."""
        token = ""
        while True:
            page = self.list_orders(zone=zone, page_size=page_size, page_token=token, **filters)
            yield from page.orders
            token = page.next_page_token
            if not token:
                return

    def update_order_status(
        self,
        order_id: str,
        status: OrderStatus,
        *,
        expected_version: int = 0,
        etag: str = "",
        reason: str = "",
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.Order:
        request = pb.UpdateOrderStatusRequest(
            request_id=request_id or str(uuid.uuid4()),
            order_id=order_id,
            status=status_to_pb(status),
            expected_version=expected_version,
            etag=etag,
            reason=reason,
        )
        return self._call(self.stub.UpdateOrderStatus, request, timeout, pb.Order)

    def cancel_order(
        self,
        order_id: str,
        *,
        reason: str = "",
        expected_version: int = 0,
        etag: str = "",
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.Order:
        request = pb.CancelOrderRequest(
            request_id=request_id or str(uuid.uuid4()),
            order_id=order_id,
            reason=reason,
            expected_version=expected_version,
            etag=etag,
        )
        return self._call(self.stub.CancelOrder, request, timeout, pb.Order)

    def watch_order_events(
        self,
        *,
        zone: str = "",
        cursor: str = "",
        order_id: str = "",
        stop_at_end: bool = False,
        timeout: float | None = None,
    ) -> EventStream:
        """Events in chain order after `cursor`; follows new ones until cancelled unless stop_at_end.

        A following stream has no deadline unless `timeout` is given."""
        request = pb.WatchOrderEventsRequest(
            zone=zone, cursor=cursor, order_id=order_id, stop_at_end=stop_at_end
        )
        call = self.stub.WatchOrderEvents(request, metadata=self.metadata, timeout=timeout)
        return EventStream(call)
