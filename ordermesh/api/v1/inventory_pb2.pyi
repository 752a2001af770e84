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

class PoolStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POOL_STRATEGY_UNSPECIFIED: _ClassVar[PoolStrategy]
    POOL_STRATEGY_STRONG: _ClassVar[PoolStrategy]
    POOL_STRATEGY_ESCROW: _ClassVar[PoolStrategy]
    POOL_STRATEGY_EVENTUAL: _ClassVar[PoolStrategy]

class ReservationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESERVATION_STATE_UNSPECIFIED: _ClassVar[ReservationState]
    HELD: _ClassVar[ReservationState]
    COMMITTED: _ClassVar[ReservationState]
    RELEASED: _ClassVar[ReservationState]
    EXPIRED: _ClassVar[ReservationState]
POOL_STRATEGY_UNSPECIFIED: PoolStrategy
POOL_STRATEGY_STRONG: PoolStrategy
POOL_STRATEGY_ESCROW: PoolStrategy
POOL_STRATEGY_EVENTUAL: PoolStrategy
RESERVATION_STATE_UNSPECIFIED: ReservationState
HELD: ReservationState
COMMITTED: ReservationState
RELEASED: ReservationState
EXPIRED: ReservationState

class PoolSlice(_message.Message):
    __slots__ = ("sku", "strategy", "zones", "zone", "owner", "stock", "low_watermark", "free", "held", "committed", "fence", "taken", "returned", "as_of")
    SKU_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    ZONES_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    LOW_WATERMARK_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    TAKEN_FIELD_NUMBER: _ClassVar[int]
    RETURNED_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    sku: str
    strategy: PoolStrategy
    zones: _containers.RepeatedScalarFieldContainer[str]
    zone: str
    owner: str
    stock: int
    low_watermark: int
    free: int
    held: int
    committed: int
    fence: int
    taken: _containers.RepeatedScalarFieldContainer[int]
    returned: _containers.RepeatedScalarFieldContainer[int]
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, sku: _Optional[str] = ..., strategy: _Optional[_Union[PoolStrategy, str]] = ..., zones: _Optional[_Iterable[str]] = ..., zone: _Optional[str] = ..., owner: _Optional[str] = ..., stock: _Optional[int] = ..., low_watermark: _Optional[int] = ..., free: _Optional[int] = ..., held: _Optional[int] = ..., committed: _Optional[int] = ..., fence: _Optional[int] = ..., taken: _Optional[_Iterable[int]] = ..., returned: _Optional[_Iterable[int]] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConfigurePoolRequest(_message.Message):
    __slots__ = ("zone", "sku", "strategy", "zones", "owner", "stock", "low_watermark", "quotas")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    ZONES_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    LOW_WATERMARK_FIELD_NUMBER: _ClassVar[int]
    QUOTAS_FIELD_NUMBER: _ClassVar[int]
    zone: str
    sku: str
    strategy: PoolStrategy
    zones: _containers.RepeatedScalarFieldContainer[str]
    owner: str
    stock: int
    low_watermark: int
    quotas: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, zone: _Optional[str] = ..., sku: _Optional[str] = ..., strategy: _Optional[_Union[PoolStrategy, str]] = ..., zones: _Optional[_Iterable[str]] = ..., owner: _Optional[str] = ..., stock: _Optional[int] = ..., low_watermark: _Optional[int] = ..., quotas: _Optional[_Iterable[int]] = ...) -> None: ...

class GetPoolRequest(_message.Message):
    __slots__ = ("zone", "sku")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    zone: str
    sku: str
    def __init__(self, zone: _Optional[str] = ..., sku: _Optional[str] = ...) -> None: ...

class Pool(_message.Message):
    __slots__ = ("sku", "strategy", "stock", "free", "held", "committed", "oversold", "in_transit", "conserved", "slices")
    SKU_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    OVERSOLD_FIELD_NUMBER: _ClassVar[int]
    IN_TRANSIT_FIELD_NUMBER: _ClassVar[int]
    CONSERVED_FIELD_NUMBER: _ClassVar[int]
    SLICES_FIELD_NUMBER: _ClassVar[int]
    sku: str
    strategy: PoolStrategy
    stock: int
    free: int
    held: int
    committed: int
    oversold: int
    in_transit: int
    conserved: bool
    slices: _containers.RepeatedCompositeFieldContainer[PoolSlice]
    def __init__(self, sku: _Optional[str] = ..., strategy: _Optional[_Union[PoolStrategy, str]] = ..., stock: _Optional[int] = ..., free: _Optional[int] = ..., held: _Optional[int] = ..., committed: _Optional[int] = ..., oversold: _Optional[int] = ..., in_transit: _Optional[int] = ..., conserved: _Optional[bool] = ..., slices: _Optional[_Iterable[_Union[PoolSlice, _Mapping]]] = ...) -> None: ...

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
