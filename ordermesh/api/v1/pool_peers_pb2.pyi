from ordermesh.api.v1 import inventory_pb2 as _inventory_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PoolVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POOL_VERDICT_UNSPECIFIED: _ClassVar[PoolVerdict]
    POOL_VERDICT_GRANTED: _ClassVar[PoolVerdict]
    POOL_VERDICT_REFUSED: _ClassVar[PoolVerdict]
    POOL_VERDICT_FORWARD: _ClassVar[PoolVerdict]

class TransferState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_STATE_UNSPECIFIED: _ClassVar[TransferState]
    TRANSFER_STATE_SENT: _ClassVar[TransferState]
    TRANSFER_STATE_RECEIVED: _ClassVar[TransferState]
    TRANSFER_STATE_DONE: _ClassVar[TransferState]
POOL_VERDICT_UNSPECIFIED: PoolVerdict
POOL_VERDICT_GRANTED: PoolVerdict
POOL_VERDICT_REFUSED: PoolVerdict
POOL_VERDICT_FORWARD: PoolVerdict
TRANSFER_STATE_UNSPECIFIED: TransferState
TRANSFER_STATE_SENT: TransferState
TRANSFER_STATE_RECEIVED: TransferState
TRANSFER_STATE_DONE: TransferState

class PoolKey(_message.Message):
    __slots__ = ("zone", "tenant", "sku")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    zone: str
    tenant: str
    sku: str
    def __init__(self, zone: _Optional[str] = ..., tenant: _Optional[str] = ..., sku: _Optional[str] = ...) -> None: ...

class PoolUnits(_message.Message):
    __slots__ = ("pool", "quantity")
    POOL_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    pool: PoolKey
    quantity: int
    def __init__(self, pool: _Optional[_Union[PoolKey, _Mapping]] = ..., quantity: _Optional[int] = ...) -> None: ...

class PoolRebalanceRequest(_message.Message):
    __slots__ = ("zone", "quantity")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    zone: str
    quantity: int
    def __init__(self, zone: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class PoolOutcome(_message.Message):
    __slots__ = ("verdict", "zone", "quantity", "available", "forward_to", "rebalance")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    FORWARD_TO_FIELD_NUMBER: _ClassVar[int]
    REBALANCE_FIELD_NUMBER: _ClassVar[int]
    verdict: PoolVerdict
    zone: str
    quantity: int
    available: int
    forward_to: str
    rebalance: PoolRebalanceRequest
    def __init__(self, verdict: _Optional[_Union[PoolVerdict, str]] = ..., zone: _Optional[str] = ..., quantity: _Optional[int] = ..., available: _Optional[int] = ..., forward_to: _Optional[str] = ..., rebalance: _Optional[_Union[PoolRebalanceRequest, _Mapping]] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("tenant", "sku", "transfer_id", "from_zone", "to_zone", "quantity", "token", "state")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_ZONE_FIELD_NUMBER: _ClassVar[int]
    TO_ZONE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    sku: str
    transfer_id: str
    from_zone: str
    to_zone: str
    quantity: int
    token: int
    state: TransferState
    def __init__(self, tenant: _Optional[str] = ..., sku: _Optional[str] = ..., transfer_id: _Optional[str] = ..., from_zone: _Optional[str] = ..., to_zone: _Optional[str] = ..., quantity: _Optional[int] = ..., token: _Optional[int] = ..., state: _Optional[_Union[TransferState, str]] = ...) -> None: ...

class ListTransfersRequest(_message.Message):
    __slots__ = ("pool", "state")
    POOL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    pool: PoolKey
    state: TransferState
    def __init__(self, pool: _Optional[_Union[PoolKey, _Mapping]] = ..., state: _Optional[_Union[TransferState, str]] = ...) -> None: ...

class ListTransfersResponse(_message.Message):
    __slots__ = ("transfers",)
    TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    transfers: _containers.RepeatedCompositeFieldContainer[Transfer]
    def __init__(self, transfers: _Optional[_Iterable[_Union[Transfer, _Mapping]]] = ...) -> None: ...

class Fence(_message.Message):
    __slots__ = ("holder", "token")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    holder: str
    token: int
    def __init__(self, holder: _Optional[str] = ..., token: _Optional[int] = ...) -> None: ...

class SendQuotaRequest(_message.Message):
    __slots__ = ("pool", "from_zone", "to_zone", "quantity", "fence")
    POOL_FIELD_NUMBER: _ClassVar[int]
    FROM_ZONE_FIELD_NUMBER: _ClassVar[int]
    TO_ZONE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    pool: PoolKey
    from_zone: str
    to_zone: str
    quantity: int
    fence: Fence
    def __init__(self, pool: _Optional[_Union[PoolKey, _Mapping]] = ..., from_zone: _Optional[str] = ..., to_zone: _Optional[str] = ..., quantity: _Optional[int] = ..., fence: _Optional[_Union[Fence, _Mapping]] = ...) -> None: ...

class SendQuotaResponse(_message.Message):
    __slots__ = ("transfer",)
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    transfer: Transfer
    def __init__(self, transfer: _Optional[_Union[Transfer, _Mapping]] = ...) -> None: ...

class TransferCall(_message.Message):
    __slots__ = ("zone", "transfer", "fence")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    zone: str
    transfer: Transfer
    fence: Fence
    def __init__(self, zone: _Optional[str] = ..., transfer: _Optional[_Union[Transfer, _Mapping]] = ..., fence: _Optional[_Union[Fence, _Mapping]] = ...) -> None: ...

class TransferApplied(_message.Message):
    __slots__ = ("applied",)
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    def __init__(self, applied: _Optional[bool] = ...) -> None: ...

class LeaseCall(_message.Message):
    __slots__ = ("zone", "name", "fence")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    zone: str
    name: str
    fence: Fence
    def __init__(self, zone: _Optional[str] = ..., name: _Optional[str] = ..., fence: _Optional[_Union[Fence, _Mapping]] = ...) -> None: ...

class LeaseAnswer(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PoolGossip(_message.Message):
    __slots__ = ("zone", "taken", "returned")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    TAKEN_FIELD_NUMBER: _ClassVar[int]
    RETURNED_FIELD_NUMBER: _ClassVar[int]
    zone: str
    taken: _containers.RepeatedScalarFieldContainer[int]
    returned: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, zone: _Optional[str] = ..., taken: _Optional[_Iterable[int]] = ..., returned: _Optional[_Iterable[int]] = ...) -> None: ...

class MergeGossipRequest(_message.Message):
    __slots__ = ("pool", "gossip")
    POOL_FIELD_NUMBER: _ClassVar[int]
    GOSSIP_FIELD_NUMBER: _ClassVar[int]
    pool: PoolKey
    gossip: PoolGossip
    def __init__(self, pool: _Optional[_Union[PoolKey, _Mapping]] = ..., gossip: _Optional[_Union[PoolGossip, _Mapping]] = ...) -> None: ...

class MergeGossipResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
