"""Pure routing policy: which shard a call belongs to, and which regions of its zone may serve it.

Deny by default: a call is only ever routed to regions of the order's own zone. When none of them
is healthy the answer is ZoneUnavailable — never a region of another zone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ordermesh.errors import NotFound, ZoneUnavailable
from ordermesh.ids import parse_order_id
from ordermesh.residency import zone_of_order
from ordermesh.shard import Placement, ShardKey
from ordermesh.topology import Topology


@dataclass(frozen=True)
class Route:
    """Where a call goes: its shard, the fencing epoch the home holds, and regions in the order to try."""

    shard: ShardKey
    epoch: int
    regions: tuple[str, ...]

    @property
    def zone(self) -> str:
        return self.shard.zone


def home_region(
    topology: Topology, shard: ShardKey, placements: Mapping[ShardKey, Placement]
) -> tuple[str, int]:
    """The shard's home region and epoch; an unplaced shard lives in its zone's first region, epoch 0."""
    placement = placements.get(shard)
    if placement is not None:
        return placement.home_region, placement.epoch
    return topology.zones[shard.zone].regions[0].name, 0


def candidate_regions(topology: Topology, zone: str, home: str, healthy: Collection[str]) -> tuple[str, ...]:
    """Healthy regions of the zone, home first, then the zone's failover order after it (wrapping)."""
    names = [r.name for r in topology.zones[zone].regions]
    start = names.index(home) if home in names else 0
    ordered = names[start:] + names[:start]
    live = tuple(name for name in ordered if name in healthy)
    if not live:
        raise ZoneUnavailable(f"no healthy region in zone {zone}", {"zone": zone})
    return live


def route_shard(
    topology: Topology, shard: ShardKey, placements: Mapping[ShardKey, Placement], healthy: Collection[str]
) -> Route:
    home, epoch = home_region(topology, shard, placements)
    return Route(shard, epoch, candidate_regions(topology, shard.zone, home, healthy))


def route_new_order(
    topology: Topology,
    placements: Mapping[ShardKey, Placement],
    healthy: Collection[str],
    tenant: str,
    country: str,
) -> Route:
    """A CreateOrder: the zone comes from the customer's country by the residency policy."""
    decision = zone_of_order(topology, tenant, country)
    return route_shard(topology, topology.shard(tenant, decision.zone), placements, healthy)


def route_order_id(
    topology: Topology,
    placements: Mapping[ShardKey, Placement],
    healthy: Collection[str],
    tenant: str,
    order_id: str,
) -> Route:
    """A call naming an order: the id carries zone and bucket, so no lookup is needed.

    An id whose zone the tenant may not use, or whose bucket is not the tenant's, cannot be one of
    the tenant's orders: NOT_FOUND, exactly as for an unknown id (ids never reveal other tenants).
    """
    parts = parse_order_id(order_id)
    spec = topology.tenants.get(tenant)
    if spec is None:
        raise NotFound(f"unknown tenant {tenant!r}")
    if parts.zone not in spec.zones or parts.zone not in topology.zones:
        raise NotFound(f"order {order_id} not found")
    shard = topology.shard(tenant, parts.zone)
    if shard.bucket != parts.bucket:
        raise NotFound(f"order {order_id} not found")
    return route_shard(topology, shard, placements, healthy)


def route_zone(
    topology: Topology,
    placements: Mapping[ShardKey, Placement],
    healthy: Collection[str],
    tenant: str,
    zone: str,
) -> Route:
    """A zone-wide call (ListOrders, WatchOrderEvents) goes to the home of the tenant's shard there."""
    spec = topology.tenants.get(tenant)
    if spec is None:
        raise NotFound(f"unknown tenant {tenant!r}")
    if zone not in topology.zones or zone not in spec.zones:
        raise NotFound(f"tenant {tenant} has no orders in zone {zone!r}")
    return route_shard(topology, topology.shard(tenant, zone), placements, healthy)
