from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FailoverRequest(_message.Message):
    __slots__ = ("region",)
    REGION_FIELD_NUMBER: _ClassVar[int]
    region: str
    def __init__(self, region: _Optional[str] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("region",)
    REGION_FIELD_NUMBER: _ClassVar[int]
    region: str
    def __init__(self, region: _Optional[str] = ...) -> None: ...

class FailbackRequest(_message.Message):
    __slots__ = ("region",)
    REGION_FIELD_NUMBER: _ClassVar[int]
    region: str
    def __init__(self, region: _Optional[str] = ...) -> None: ...

class ShardMove(_message.Message):
    __slots__ = ("shard", "from_region", "to_region", "epoch", "applied", "error")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    FROM_REGION_FIELD_NUMBER: _ClassVar[int]
    TO_REGION_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    shard: str
    from_region: str
    to_region: str
    epoch: int
    applied: bool
    error: str
    def __init__(self, shard: _Optional[str] = ..., from_region: _Optional[str] = ..., to_region: _Optional[str] = ..., epoch: _Optional[int] = ..., applied: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class FailoverResponse(_message.Message):
    __slots__ = ("moves",)
    MOVES_FIELD_NUMBER: _ClassVar[int]
    moves: _containers.RepeatedCompositeFieldContainer[ShardMove]
    def __init__(self, moves: _Optional[_Iterable[_Union[ShardMove, _Mapping]]] = ...) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("moves",)
    MOVES_FIELD_NUMBER: _ClassVar[int]
    moves: _containers.RepeatedCompositeFieldContainer[ShardMove]
    def __init__(self, moves: _Optional[_Iterable[_Union[ShardMove, _Mapping]]] = ...) -> None: ...

class FailbackResponse(_message.Message):
    __slots__ = ("moves",)
    MOVES_FIELD_NUMBER: _ClassVar[int]
    moves: _containers.RepeatedCompositeFieldContainer[ShardMove]
    def __init__(self, moves: _Optional[_Iterable[_Union[ShardMove, _Mapping]]] = ...) -> None: ...

class ListPlacementsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShardPlacement(_message.Message):
    __slots__ = ("shard", "tenant", "zone", "bucket", "home_region", "epoch")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    HOME_REGION_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    shard: str
    tenant: str
    zone: str
    bucket: int
    home_region: str
    epoch: int
    def __init__(self, shard: _Optional[str] = ..., tenant: _Optional[str] = ..., zone: _Optional[str] = ..., bucket: _Optional[int] = ..., home_region: _Optional[str] = ..., epoch: _Optional[int] = ...) -> None: ...

class RegionState(_message.Message):
    __slots__ = ("region", "zone", "instances", "live", "dead", "drained")
    REGION_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    DEAD_FIELD_NUMBER: _ClassVar[int]
    DRAINED_FIELD_NUMBER: _ClassVar[int]
    region: str
    zone: str
    instances: int
    live: bool
    dead: bool
    drained: bool
    def __init__(self, region: _Optional[str] = ..., zone: _Optional[str] = ..., instances: _Optional[int] = ..., live: _Optional[bool] = ..., dead: _Optional[bool] = ..., drained: _Optional[bool] = ...) -> None: ...

class ListPlacementsResponse(_message.Message):
    __slots__ = ("placements", "regions", "leader")
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    placements: _containers.RepeatedCompositeFieldContainer[ShardPlacement]
    regions: _containers.RepeatedCompositeFieldContainer[RegionState]
    leader: str
    def __init__(self, placements: _Optional[_Iterable[_Union[ShardPlacement, _Mapping]]] = ..., regions: _Optional[_Iterable[_Union[RegionState, _Mapping]]] = ..., leader: _Optional[str] = ...) -> None: ...
