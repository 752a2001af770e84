import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    PENDING: _ClassVar[OrderStatus]
    CONFIRMED: _ClassVar[OrderStatus]
    BACKORDERED: _ClassVar[OrderStatus]
    ALLOCATED: _ClassVar[OrderStatus]
    PARTIALLY_SHIPPED: _ClassVar[OrderStatus]
    SHIPPED: _ClassVar[OrderStatus]
    DELIVERED: _ClassVar[OrderStatus]
    CANCELLED: _ClassVar[OrderStatus]
    ON_HOLD: _ClassVar[OrderStatus]
    RETURNED: _ClassVar[OrderStatus]

class CustomerTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CUSTOMER_TIER_UNSPECIFIED: _ClassVar[CustomerTier]
    STANDARD: _ClassVar[CustomerTier]
    SILVER: _ClassVar[CustomerTier]
    GOLD: _ClassVar[CustomerTier]
    PLATINUM: _ClassVar[CustomerTier]

class OrderEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_EVENT_TYPE_UNSPECIFIED: _ClassVar[OrderEventType]
    ORDER_CREATED: _ClassVar[OrderEventType]
    ORDER_STATUS_CHANGED: _ClassVar[OrderEventType]
    ORDER_CANCELLED: _ClassVar[OrderEventType]
ORDER_STATUS_UNSPECIFIED: OrderStatus
PENDING: OrderStatus
CONFIRMED: OrderStatus
BACKORDERED: OrderStatus
ALLOCATED: OrderStatus
PARTIALLY_SHIPPED: OrderStatus
SHIPPED: OrderStatus
DELIVERED: OrderStatus
CANCELLED: OrderStatus
ON_HOLD: OrderStatus
RETURNED: OrderStatus
CUSTOMER_TIER_UNSPECIFIED: CustomerTier
STANDARD: CustomerTier
SILVER: CustomerTier
GOLD: CustomerTier
PLATINUM: CustomerTier
ORDER_EVENT_TYPE_UNSPECIFIED: OrderEventType
ORDER_CREATED: OrderEventType
ORDER_STATUS_CHANGED: OrderEventType
ORDER_CANCELLED: OrderEventType

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("customer_id", "country", "tier")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    country: str
    tier: CustomerTier
    def __init__(self, customer_id: _Optional[str] = ..., country: _Optional[str] = ..., tier: _Optional[_Union[CustomerTier, str]] = ...) -> None: ...

class OrderLine(_message.Message):
    __slots__ = ("sku", "quantity", "unit_price")
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    sku: str
    quantity: int
    unit_price: Money
    def __init__(self, sku: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("name", "order_id", "customer", "lines", "status", "total", "version", "etag", "zone", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    order_id: str
    customer: Customer
    lines: _containers.RepeatedCompositeFieldContainer[OrderLine]
    status: OrderStatus
    total: Money
    version: int
    etag: str
    zone: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., order_id: _Optional[str] = ..., customer: _Optional[_Union[Customer, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[OrderLine, _Mapping]]] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., version: _Optional[int] = ..., etag: _Optional[str] = ..., zone: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateOrderRequest(_message.Message):
    __slots__ = ("request_id", "customer", "lines")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    customer: Customer
    lines: _containers.RepeatedCompositeFieldContainer[OrderLine]
    def __init__(self, request_id: _Optional[str] = ..., customer: _Optional[_Union[Customer, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[OrderLine, _Mapping]]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class ListOrdersRequest(_message.Message):
    __slots__ = ("zone", "page_size", "page_token", "statuses", "created_after", "created_before")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    zone: str
    page_size: int
    page_token: str
    statuses: _containers.RepeatedScalarFieldContainer[OrderStatus]
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    def __init__(self, zone: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[OrderStatus, str]]] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListOrdersResponse(_message.Message):
    __slots__ = ("orders", "next_page_token")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    next_page_token: str
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateOrderStatusRequest(_message.Message):
    __slots__ = ("request_id", "order_id", "status", "expected_version", "etag", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    order_id: str
    status: OrderStatus
    expected_version: int
    etag: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., order_id: _Optional[str] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., expected_version: _Optional[int] = ..., etag: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("request_id", "order_id", "reason", "expected_version", "etag")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    order_id: str
    reason: str
    expected_version: int
    etag: str
    def __init__(self, request_id: _Optional[str] = ..., order_id: _Optional[str] = ..., reason: _Optional[str] = ..., expected_version: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class WatchOrderEventsRequest(_message.Message):
    __slots__ = ("zone", "cursor", "order_id", "stop_at_end")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    STOP_AT_END_FIELD_NUMBER: _ClassVar[int]
    zone: str
    cursor: str
    order_id: str
    stop_at_end: bool
    def __init__(self, zone: _Optional[str] = ..., cursor: _Optional[str] = ..., order_id: _Optional[str] = ..., stop_at_end: _Optional[bool] = ...) -> None: ...

class OrderEvent(_message.Message):
    __slots__ = ("cursor", "event_id", "order_id", "type", "from_status", "to_status", "order_version", "actor", "reason", "time", "sequence", "chain_hash")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    ORDER_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CHAIN_HASH_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    event_id: str
    order_id: str
    type: OrderEventType
    from_status: OrderStatus
    to_status: OrderStatus
    order_version: int
    actor: str
    reason: str
    time: _timestamp_pb2.Timestamp
    sequence: int
    chain_hash: str
    def __init__(self, cursor: _Optional[str] = ..., event_id: _Optional[str] = ..., order_id: _Optional[str] = ..., type: _Optional[_Union[OrderEventType, str]] = ..., from_status: _Optional[_Union[OrderStatus, str]] = ..., to_status: _Optional[_Union[OrderStatus, str]] = ..., order_version: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ..., chain_hash: _Optional[str] = ...) -> None: ...
