"""Which epoch this instance holds per shard: what its writes are fenced with (DESIGN.md: placement).

The embedded/single-instance view is static; the cluster view (ZooKeeper placement, fed by the
failover controller) implements the same one-method protocol.
"""

from __future__ import annotations

from typing import Protocol

from ordermesh.shard import ShardKey


class PlacementView(Protocol):
    def held_epoch(self, shard: ShardKey) -> int:
        """The epoch this instance holds for the shard (what its writes are fenced with)."""
        ...


class StaticPlacement:
    """Embedded/single-instance placement: every shard at a fixed epoch (0 = never moved)."""

    def __init__(self, epochs: dict[ShardKey, int] | None = None, default: int = 0) -> None:
        self.epochs = dict(epochs or {})
        self.default = default

    def held_epoch(self, shard: ShardKey) -> int:
        return self.epochs.get(shard, self.default)
