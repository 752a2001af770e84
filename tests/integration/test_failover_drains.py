"""A drain outlives the failover controller that made it: the next leader keeps the region drained
(no shard goes back to it) until a failback, because the coordinator keeps drains, not the leader."""

from __future__ import annotations

from pathlib import Path

from consistency.memory_coordinator import MemoryCoordinator, MemoryEnsemble
from ordermesh.topology import load_topology
from router.failover import FailoverController

TOPOLOGY = load_topology(Path(__file__).resolve().parents[2] / "deploy/topologies/three-zones.yaml")


def homes(coordinator: MemoryCoordinator, zone: str) -> set[str]:
    return {p.home_region for s, p in coordinator.placements().items() if s.zone == zone}


def test_a_new_leader_keeps_the_drained_region_drained_until_failback() -> None:
    ensemble = MemoryEnsemble()
    registry = MemoryCoordinator(ensemble)
    for n, region in enumerate(TOPOLOGY.regions):
        registry.register_instance(region.name, f"{region.name}-1", f"127.0.0.1:{20000 + n}")

    def controller(name: str) -> FailoverController:
        c = FailoverController(MemoryCoordinator(ensemble), TOPOLOGY, name, detection_s=60.0)
        c._on_instances(registry.instances())
        return c

    first = controller("controller-a")
    first.tick()
    for shard in first.shards:  # every shard at its default home first
        registry.set_placement(shard, TOPOLOGY.zones[shard.zone].regions[0].name, None)
    assert first.is_leader() and "eu-west" in homes(registry, "eu")
    first.drain("eu-west")
    assert "eu-west" not in homes(registry, "eu")
    first.stop()  # the leader goes away (resigns); a new one takes over

    second = controller("controller-b")
    second.tick()
    assert second.is_leader()
    assert "eu-west" in second.drained and "eu-west" not in homes(registry, "eu")
    assert [s.drained for s in second.status() if s.region == "eu-west"] == [True]
    second.failback("eu-west")
    assert "eu-west" not in second.drained and "eu-west" in homes(registry, "eu")
    second.stop()
