"""The placement directory on ZooKeeper: shard -> home region + epoch, moved only by compare-and-set.

Failure semantics: each call ends by its deadline with CoordinatorUnavailable; a move that timed out may
have been applied, and retrying it with the same expected epoch is safe (it conflicts, it never moves
twice). The znode version is the CAS guard, so two controllers racing on one shard cannot both win.

Layout: `<folder>/<tenant>/<zone>/<bucket>` holding JSON {"home_region": ..., "epoch": ...}.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from consistency.coordinator import PlacementConflict, check_name
from ordermesh.shard import Placement, ShardKey

if TYPE_CHECKING:
    from consistency.zk_coordinator import ZkCoordinator


class ZkPlacementDirectory:
    """Reads, watches and compare-and-sets placements under one ZooKeeper folder."""

    def __init__(self, coordinator: ZkCoordinator, client: Any, folder: str) -> None:
        self._coordinator = coordinator
        self._client = client
        self._folder = folder

    def _path(self, shard: ShardKey) -> str:
        check_name("tenant", shard.tenant)
        check_name("zone", shard.zone)
        return f"{self._folder}/{shard}"

    def _left(self, deadline: float) -> float:
        return max(0.0, deadline - time.monotonic())

    def placement(self, shard: ShardKey, timeout: float | None) -> Placement | None:
        try:
            data, _ = self._coordinator.call(self._client.get_async, self._path(shard), timeout=timeout)
        except NoNodeError:
            return None
        return _decode(shard, data)

    def read(self, watch: Callable[[Any], None] | None, deadline: float) -> dict[ShardKey, Placement]:
        """Every placement; with `watch`, arm it on every folder (new shards) and leaf (moves)."""
        gather, client = self._coordinator.gather, self._client
        folders = [self._folder]
        for _ in range(3):  # tenant, zone, bucket levels: one round trip per level
            listed = gather([(client.get_children_async, (f, watch)) for f in folders], deadline)
            folders = [f"{f}/{c}" for f, kids in zip(folders, listed, strict=True) for c in kids or []]
        leaves = gather([(client.get_async, (path, watch)) for path in folders], deadline)
        result: dict[ShardKey, Placement] = {}
        prefix = len(self._folder) + 1
        for path, leaf in zip(folders, leaves, strict=True):
            if leaf is not None and leaf[0]:
                shard = ShardKey.parse(path[prefix:])
                result[shard] = _decode(shard, leaf[0])
        return result

    def set(
        self, shard: ShardKey, home_region: str, expected_epoch: int | None, deadline: float
    ) -> Placement:
        check_name("region", home_region)
        path = self._path(shard)
        call, client = self._coordinator.call, self._client
        if expected_epoch is None:
            placement = Placement(shard, home_region, 1)
            try:
                call(
                    client.create_async, path, _encode(placement), makepath=True, timeout=self._left(deadline)
                )
            except NodeExistsError:
                raise PlacementConflict(shard, None, self.placement(shard, None)) from None
            return placement
        try:
            data, stat = call(client.get_async, path, timeout=self._left(deadline))
        except NoNodeError:
            raise PlacementConflict(shard, expected_epoch, None) from None
        current = _decode(shard, data)
        if current.epoch != expected_epoch:
            raise PlacementConflict(shard, expected_epoch, current)
        placement = Placement(shard, home_region, expected_epoch + 1)
        try:
            call(client.set_async, path, _encode(placement), stat.version, timeout=self._left(deadline))
        except (BadVersionError, NoNodeError):
            raise PlacementConflict(shard, expected_epoch, self.placement(shard, None)) from None
        return placement


def _encode(placement: Placement) -> bytes:
    return json.dumps({"home_region": placement.home_region, "epoch": placement.epoch}).encode()


def _decode(shard: ShardKey, data: bytes) -> Placement:
    raw = json.loads(data)
    return Placement(shard, str(raw["home_region"]), int(raw["epoch"]))
