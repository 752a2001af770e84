"""Pure failover policy: which shards move where when a region dies, is drained, or comes back.

A move never crosses a zone: a shard only ever goes to another region of its own zone, in the zone's
failover order (the topology lists a zone's regions in that order; the first is the preferred home).
When no region of the zone is healthy nothing moves — the zone is unavailable, and the router answers
ZONE_UNAVAILABLE rather than spilling the zone's data anywhere else.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from ordermesh.shard import Placement, ShardKey
from ordermesh.topology import Topology
from router.policy import home_region


@dataclass(frozen=True, order=True)
class Move:
    """Move `shard` from `from_region` to `to_region`, by compare-and-set on `expected_epoch`.

    `expected_epoch` is None for a shard never placed (it lives in its zone's first region at epoch 0);
    the coordinator's CAS then creates it at epoch 1. The new epoch is always expected + 1.
    """

    shard: ShardKey
    from_region: str
    to_region: str
    expected_epoch: int | None

    @property
    def new_epoch(self) -> int:
        return (self.expected_epoch or 0) + 1


def all_shards(topology: Topology) -> list[ShardKey]:
    """Every shard the topology allows: one per (tenant, zone the tenant may use), sorted."""
    return sorted(
        topology.shard(tenant.name, zone)
        for tenant in topology.tenants.values()
        for zone in tenant.zones
        if zone in topology.zones
    )


def _zone_order(topology: Topology, zone: str) -> list[str]:
    return [r.name for r in topology.zones[zone].regions]


def _next_healthy(topology: Topology, zone: str, after: str, healthy: Collection[str]) -> str | None:
    """The first healthy region of `zone` after `after` in the failover order (wrapping), never `after`."""
    order = _zone_order(topology, zone)
    start = order.index(after) + 1 if after in order else 0
    for name in order[start:] + order[:start]:
        if name != after and name in healthy:
            return name
    return None


def _move(
    topology: Topology, placements: Mapping[ShardKey, Placement], shard: ShardKey, to_region: str
) -> Move | None:
    home, _ = home_region(topology, shard, placements)
    if home == to_region:
        return None
    current = placements.get(shard)
    return Move(shard, home, to_region, current.epoch if current is not None else None)


def plan_failover(
    topology: Topology,
    placements: Mapping[ShardKey, Placement],
    healthy_regions: Collection[str],
    shards: Iterable[ShardKey],
) -> list[Move]:
    """Shards whose home is not healthy move to the next healthy region of their zone (none: no move)."""
    moves: list[Move] = []
    for shard in sorted(set(shards)):
        if shard.zone not in topology.zones:
            continue
        home, _ = home_region(topology, shard, placements)
        if home in healthy_regions:
            continue
        target = _next_healthy(topology, shard.zone, home, healthy_regions)
        move = _move(topology, placements, shard, target) if target is not None else None
        if move is not None:
            moves.append(move)
    return moves


def plan_drain(
    topology: Topology,
    placements: Mapping[ShardKey, Placement],
    region: str,
    shards: Iterable[ShardKey],
    healthy_regions: Collection[str] | None = None,
) -> list[Move]:
    """Every shard homed on `region` moves to the next region of its zone (healthy ones when given).

    With no other (healthy) region in the zone the shard stays: draining never makes a zone unavailable.
    """
    zone = topology.region(region).zone
    others = [name for name in _zone_order(topology, zone) if name != region]
    candidates = set(others) if healthy_regions is None else set(others) & set(healthy_regions)
    moves: list[Move] = []
    for shard in sorted(set(shards)):
        if shard.zone != zone or home_region(topology, shard, placements)[0] != region:
            continue
        target = _next_healthy(topology, zone, region, candidates)
        move = _move(topology, placements, shard, target) if target is not None else None
        if move is not None:
            moves.append(move)
    return moves


def plan_failback(
    topology: Topology,
    placements: Mapping[ShardKey, Placement],
    healthy_regions: Collection[str],
    shards: Iterable[ShardKey],
    region: str | None = None,
) -> list[Move]:
    """Shards go back to their preferred home (the zone's first region) — or, with `region`, every shard
    of that region's zone goes to `region` — when that target is healthy."""
    target_zone = topology.region(region).zone if region is not None else None
    moves: list[Move] = []
    for shard in sorted(set(shards)):
        if shard.zone not in topology.zones:
            continue
        if target_zone is not None and shard.zone != target_zone:
            continue
        target = region if region is not None else _zone_order(topology, shard.zone)[0]
        if target not in healthy_regions:
            continue
        move = _move(topology, placements, shard, target)
        if move is not None:
            moves.append(move)
    return moves
