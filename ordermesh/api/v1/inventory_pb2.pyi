import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ordermesh.api.v1 import orders_pb2 as _orders_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReservationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESERVATION_STATE_UNSPECIFIED: _ClassVar[ReservationState]
    HELD: _ClassVar[ReservationState]
    COMMITTED: _ClassVar[ReservationState]
    RELEASED: _ClassVar[ReservationState]
    EXPIRED: _ClassVar[ReservationState]
RESERVATION_STATE_UNSPECIFIED: ReservationState
HELD: ReservationState
COMMITTED: ReservationState
RELEASED: ReservationState
EXPIRED: ReservationState

class StockLevel(_message.Message):
    __slots__ = ("sku", "warehouse", "on_hand", "reserved", "safety_stock")
    SKU_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    SAFETY_STOCK_FIELD_NUMBER: _ClassVar[int]
    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    safety_stock: int
    def __init__(self, sku: _Optional[str] = ..., warehouse: _Optional[str] = ..., on_hand: _Optional[int] = ..., reserved: _Optional[int] = ..., safety_stock: _Optional[int] = ...) -> None: ...

class InboundStock(_message.Message):
    __slots__ = ("inbound_id", "sku", "warehouse", "quantity", "eta", "received_time")
    INBOUND_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_TIME_FIELD_NUMBER: _ClassVar[int]
    inbound_id: str
    sku: str
    warehouse: str
    quantity: int
    eta: _timestamp_pb2.Timestamp
    received_time: _timestamp_pb2.Timestamp
    def __init__(self, inbound_id: _Optional[str] = ..., sku: _Optional[str] = ..., warehouse: _Optional[str] = ..., quantity: _Optional[int] = ..., eta: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WarehouseAvailability(_message.Message):
    __slots__ = ("warehouse", "region", "on_hand", "reserved", "safety_stock", "inbound", "available_to_promise")
    WAREHOUSE_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    SAFETY_STOCK_FIELD_NUMBER: _ClassVar[int]
    INBOUND_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_TO_PROMISE_FIELD_NUMBER: _ClassVar[int]
    warehouse: str
    region: str
    on_hand: int
    reserved: int
    safety_stock: int
    inbound: int
    available_to_promise: int
    def __init__(self, warehouse: _Optional[str] = ..., region: _Optional[str] = ..., on_hand: _Optional[int] = ..., reserved: _Optional[int] = ..., safety_stock: _Optional[int] = ..., inbound: _Optional[int] = ..., available_to_promise: _Optional[int] = ...) -> None: ...

class Availability(_message.Message):
    __slots__ = ("sku", "zone", "as_of", "tier", "available_to_promise", "warehouses")
    SKU_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_TO_PROMISE_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSES_FIELD_NUMBER: _ClassVar[int]
    sku: str
    zone: str
    as_of: _timestamp_pb2.Timestamp
    tier: _orders_pb2.CustomerTier
    available_to_promise: int
    warehouses: _containers.RepeatedCompositeFieldContainer[WarehouseAvailability]
    def __init__(self, sku: _Optional[str] = ..., zone: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tier: _Optional[_Union[_orders_pb2.CustomerTier, str]] = ..., available_to_promise: _Optional[int] = ..., warehouses: _Optional[_Iterable[_Union[WarehouseAvailability, _Mapping]]] = ...) -> None: ...

class Reservation(_message.Message):
    __slots__ = ("reservation_id", "order_id", "line_no", "sku", "warehouse", "quantity", "state", "expire_time")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_NO_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    order_id: str
    line_no: int
    sku: str
    warehouse: str
    quantity: int
    state: ReservationState
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, reservation_id: _Optional[str] = ..., order_id: _Optional[str] = ..., line_no: _Optional[int] = ..., sku: _Optional[str] = ..., warehouse: _Optional[str] = ..., quantity: _Optional[int] = ..., state: _Optional[_Union[ReservationState, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetStockRequest(_message.Message):
    __slots__ = ("zone", "warehouse", "sku", "on_hand", "safety_stock")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    SAFETY_STOCK_FIELD_NUMBER: _ClassVar[int]
    zone: str
    warehouse: str
    sku: str
    on_hand: int
    safety_stock: int
    def __init__(self, zone: _Optional[str] = ..., warehouse: _Optional[str] = ..., sku: _Optional[str] = ..., on_hand: _Optional[int] = ..., safety_stock: _Optional[int] = ...) -> None: ...

class AddInboundRequest(_message.Message):
    __slots__ = ("zone", "inbound_id", "warehouse", "sku", "quantity", "eta")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    INBOUND_ID_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    zone: str
    inbound_id: str
    warehouse: str
    sku: str
    quantity: int
    eta: _timestamp_pb2.Timestamp
    def __init__(self, zone: _Optional[str] = ..., inbound_id: _Optional[str] = ..., warehouse: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., eta: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReceiveInboundRequest(_message.Message):
    __slots__ = ("zone", "inbound_id")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    INBOUND_ID_FIELD_NUMBER: _ClassVar[int]
    zone: str
    inbound_id: str
    def __init__(self, zone: _Optional[str] = ..., inbound_id: _Optional[str] = ...) -> None: ...

class GetAvailabilityRequest(_message.Message):
    __slots__ = ("zone", "sku", "at", "tier")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    zone: str
    sku: str
    at: _timestamp_pb2.Timestamp
    tier: _orders_pb2.CustomerTier
    def __init__(self, zone: _Optional[str] = ..., sku: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tier: _Optional[_Union[_orders_pb2.CustomerTier, str]] = ...) -> None: ...

class ListReservationsRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class ListReservationsResponse(_message.Message):
    __slots__ = ("reservations",)
    RESERVATIONS_FIELD_NUMBER: _ClassVar[int]
    reservations: _containers.RepeatedCompositeFieldContainer[Reservation]
    def __init__(self, reservations: _Optional[_Iterable[_Union[Reservation, _Mapping]]] = ...) -> None: ...
