"""The simulated control plane: the routers' health view and the shard placements, decided by router.policy.

Routing is memoised per (kind of order, cluster version): the real `route_new_order` runs again for
every kind of order whenever health or placement changes, so every simulated order is routed by the
same pure function a router runs — only its repeated evaluation on identical inputs is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ordermesh.errors import NotFound, ResidencyViolation, ZoneUnavailable
from ordermesh.residency import zone_of_order
from ordermesh.shard import Placement, ShardKey
from ordermesh.topology import Topology
from router.policy import candidate_regions, home_region, route_new_order
from simulation.traffic import Combo

# Route table codes below zero: what the router (or the target region) answers instead of serving.
RESIDENCY = -1  # ResidencyViolation: rejected, never retried
ZONE_DOWN = -2  # ZoneUnavailable: no healthy region in the order's zone
FENCED = -3  # the next region of the zone does not own the shard yet (promotion pending): FENCED
UNKNOWN = -4  # NotFound (unknown tenant) — scenarios are validated, so never expected


class ClusterView:
    """Healthy regions as the routers see them, and shard placements as the failover controller sets them."""

    def __init__(self, topology: Topology, combos: Sequence[Combo], placement: str = "spread") -> None:
        self.topology = topology
        self.combos = list(combos)
        self.regions = [r.name for r in topology.regions]
        self.region_index = {name: i for i, name in enumerate(self.regions)}
        self.region_zone = [topology.region(name).zone for name in self.regions]
        self.healthy: set[str] = set(self.regions)
        self.placements: dict[ShardKey, Placement] = initial_placements(topology, placement)
        self.version = 0
        self.promotions = 0
        self._tables: dict[int, np.ndarray] = {}
        self.combo_zone = [self._zone(c) for c in self.combos]

    def _zone(self, combo: Combo) -> str | None:
        try:
            return zone_of_order(self.topology, combo.tenant, combo.country).zone
        except (ResidencyViolation, NotFound):
            return None

    def table(self) -> np.ndarray:
        """Combo index -> serving region index, or one of the negative codes; recomputed per version."""
        cached = self._tables.get(self.version)
        if cached is not None:
            return cached
        out = np.empty(len(self.combos), dtype=np.int64)
        for i, c in enumerate(self.combos):
            try:
                route = route_new_order(self.topology, self.placements, self.healthy, c.tenant, c.country)
            except ResidencyViolation:
                out[i] = RESIDENCY
                continue
            except ZoneUnavailable:
                out[i] = ZONE_DOWN
                continue
            except NotFound:
                out[i] = UNKNOWN
                continue
            home, _epoch = home_region(self.topology, route.shard, self.placements)
            # The router forwards to the first healthy candidate; unless it is the shard's home, its
            # fencing check refuses the write until the controller has promoted it (raised the epoch).
            out[i] = self.region_index[route.regions[0]] if route.regions[0] == home else FENCED
        self._tables = {self.version: out}
        return out

    def mark_down(self, region: str) -> None:
        self.healthy.discard(region)
        self.version += 1

    def mark_up(self, region: str) -> None:
        self.healthy.add(region)
        self.version += 1

    def promote_from(self, region: str) -> int:
        """Moves every shard homed in `region` to the next healthy region of its zone, raising epochs."""
        moved = 0
        zone = self.topology.region(region).zone
        for shard in self._shards(zone):
            home, epoch = home_region(self.topology, shard, self.placements)
            if home != region or home in self.healthy:
                continue
            try:
                target = candidate_regions(self.topology, zone, home, self.healthy)[0]
            except ZoneUnavailable:
                continue  # nowhere to go inside the zone: the shard waits for its region
            self.placements[shard] = Placement(shard, target, epoch + 1)
            moved += 1
        if moved:
            self.version += 1
            self.promotions += moved
        return moved

    def _shards(self, zone: str) -> list[ShardKey]:
        return [self.topology.shard(t.name, zone) for t in self.topology.tenants.values() if zone in t.zones]


def initial_placements(topology: Topology, mode: str) -> dict[ShardKey, Placement]:
    """`first`: every shard in its zone's first region (the unplaced default); `spread`: round-robin."""
    if mode == "first":
        return {}
    out = {}
    for zone in topology.zones.values():
        tenants = sorted(t.name for t in topology.tenants.values() if zone.name in t.zones)
        for i, tenant in enumerate(tenants):
            shard = topology.shard(tenant, zone.name)
            out[shard] = Placement(shard, zone.regions[i % len(zone.regions)].name, 1)
    return out
