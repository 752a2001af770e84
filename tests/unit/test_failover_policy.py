"""Failover policy: shards of a dead or drained region move within their zone only, in failover order."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ordermesh.shard import Placement, ShardKey
from ordermesh.topology import Topology, load_topology
from router.failover_policy import Move, all_shards, plan_drain, plan_failback, plan_failover

TOPOLOGY: Topology = load_topology(Path(__file__).resolve().parents[2] / "deploy/topologies/three-zones.yaml")
REGIONS = tuple(r.name for r in TOPOLOGY.regions)
ALL = frozenset(REGIONS)
SHARDS = all_shards(TOPOLOGY)
ACME_EU = TOPOLOGY.shard("acme", "eu")
GLOBEX_EU = TOPOLOGY.shard("globex", "eu")


def placed(**homes: tuple[str, int]) -> dict[ShardKey, Placement]:
    """placed(acme_eu=("eu-central", 3)) → placements keyed by the shard named tenant_zone."""
    out = {}
    for name, (region, epoch) in homes.items():
        tenant, zone = name.split("_")
        shard = TOPOLOGY.shard(tenant, zone)
        out[shard] = Placement(shard, region, epoch)
    return out


def test_the_shards_are_every_tenant_zone_the_topology_allows() -> None:
    assert len(SHARDS) == 3 + 1 + 2  # acme: eu/us/apac, globex: eu, initech: eu/us
    assert GLOBEX_EU in SHARDS
    assert TOPOLOGY.shard("globex", "us") not in SHARDS  # globex is EU-only


def test_a_dead_home_moves_to_the_next_region_of_its_zone_with_epoch_plus_one() -> None:
    placements = placed(acme_eu=("eu-west", 4))
    moves = plan_failover(TOPOLOGY, placements, ALL - {"eu-west"}, SHARDS)
    acme = [m for m in moves if m.shard == ACME_EU]
    assert acme == [Move(ACME_EU, "eu-west", "eu-central", 4)]
    assert acme[0].new_epoch == 5
    # Unplaced shards live in the zone's first region at epoch 0: they move too, created at epoch 1.
    assert Move(GLOBEX_EU, "eu-west", "eu-central", None) in moves
    assert {m.shard.zone for m in moves} == {"eu"}


def test_the_failover_order_skips_unhealthy_regions_and_wraps() -> None:
    moves = plan_failover(
        TOPOLOGY, placed(acme_eu=("eu-central", 2)), ALL - {"eu-central", "eu-north"}, SHARDS
    )
    assert [m for m in moves if m.shard == ACME_EU] == [Move(ACME_EU, "eu-central", "eu-west", 2)]


def test_a_zone_with_no_healthy_region_moves_nothing() -> None:
    healthy = ALL - {"eu-west", "eu-central", "eu-north"}
    assert plan_failover(TOPOLOGY, {}, healthy, SHARDS) == []


def test_healthy_homes_stay_put() -> None:
    assert plan_failover(TOPOLOGY, placed(acme_eu=("eu-north", 9)), ALL, SHARDS) == []


def test_drain_leaves_no_shard_on_the_drained_region_when_another_is_healthy() -> None:
    placements = placed(acme_eu=("eu-west", 1), globex_eu=("eu-west", 7), initech_eu=("eu-north", 2))
    moves = plan_drain(TOPOLOGY, placements, "eu-west", SHARDS, ALL)
    assert sorted(m.shard for m in moves) == sorted([ACME_EU, GLOBEX_EU])
    after = apply(placements, moves)
    assert all(p.home_region != "eu-west" for p in after.values() if p.shard.zone == "eu")
    # and it does not pick an unhealthy region: eu-central down -> eu-north
    moves = plan_drain(TOPOLOGY, placements, "eu-west", SHARDS, ALL - {"eu-central"})
    assert {m.to_region for m in moves} == {"eu-north"}


def test_draining_the_only_healthy_region_keeps_its_shards() -> None:
    assert plan_drain(TOPOLOGY, {}, "eu-west", SHARDS, {"eu-west"}) == []


def test_failback_returns_shards_to_the_preferred_home_or_a_given_region() -> None:
    placements = placed(acme_eu=("eu-central", 2), acme_us=("us-west", 5))
    moves = plan_failback(TOPOLOGY, placements, ALL, SHARDS)
    assert sorted(moves) == sorted(
        [
            Move(ACME_EU, "eu-central", "eu-west", 2),
            Move(TOPOLOGY.shard("acme", "us"), "us-west", "us-east", 5),
        ]
    )
    assert plan_failback(TOPOLOGY, placements, ALL - {"eu-west"}, SHARDS) == [
        Move(TOPOLOGY.shard("acme", "us"), "us-west", "us-east", 5)
    ]
    to_north = plan_failback(TOPOLOGY, placements, ALL, SHARDS, region="eu-north")
    assert {m.shard.zone for m in to_north} == {"eu"} and {m.to_region for m in to_north} == {"eu-north"}


def apply(placements: dict[ShardKey, Placement], moves: list[Move]) -> dict[ShardKey, Placement]:
    out = dict(placements)
    for m in moves:
        out[m.shard] = Placement(m.shard, m.to_region, m.new_epoch)
    return out


placements_strategy = st.dictionaries(
    st.sampled_from(SHARDS),
    st.tuples(st.sampled_from(REGIONS), st.integers(0, 50)),
).map(lambda d: {s: Placement(s, r, e) for s, (r, e) in d.items()})
healthy_strategy = st.frozensets(st.sampled_from(REGIONS))


@given(placements_strategy, healthy_strategy)
def test_property_failover_never_crosses_a_zone_and_is_deterministic(
    placements: dict[ShardKey, Placement], healthy: frozenset[str]
) -> None:
    moves = plan_failover(TOPOLOGY, placements, healthy, SHARDS)
    assert moves == plan_failover(TOPOLOGY, placements, set(healthy), list(reversed(SHARDS)))
    for m in moves:
        assert TOPOLOGY.region(m.to_region).zone == m.shard.zone
        assert m.to_region in healthy and m.from_region not in healthy
        current = placements.get(m.shard)
        assert m.expected_epoch == (current.epoch if current else None)
    # Applying the plan leaves nothing to do: every shard of a zone with a healthy region is served.
    after = apply(placements, moves)
    assert plan_failover(TOPOLOGY, after, healthy, SHARDS) == []


@given(placements_strategy, healthy_strategy, st.sampled_from(REGIONS))
def test_property_drain_and_failback_stay_in_the_zone(
    placements: dict[ShardKey, Placement], healthy: frozenset[str], region: str
) -> None:
    for m in plan_drain(TOPOLOGY, placements, region, SHARDS, healthy) + plan_failback(
        TOPOLOGY, placements, healthy, SHARDS, region
    ):
        assert TOPOLOGY.region(m.to_region).zone == m.shard.zone
        assert m.to_region in healthy and m.to_region != m.from_region
