"""Residency (which zone holds an order) and routing (which regions may serve it): same zone only."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.errors import InvalidArgument, NotFound, ResidencyViolation, ZoneUnavailable
from ordermesh.ids import new_order_id
from ordermesh.residency import zone_of_order
from ordermesh.shard import Placement, ShardKey
from ordermesh.topology import Topology, load_topology
from router.policy import candidate_regions, route_new_order, route_order_id, route_shard, route_zone

TOPOLOGY: Topology = load_topology(Path(__file__).resolve().parents[2] / "deploy/topologies/three-zones.yaml")
ALL_REGIONS = frozenset(r.name for r in TOPOLOGY.regions)
EU = ("eu-west", "eu-central", "eu-north")
# Buckets of the demo tenants with 16 buckets per zone (pinned in test_shard.py too).
ACME, GLOBEX, INITECH = 1, 10, 0


def oid(zone: str, bucket: int) -> str:
    return new_order_id(zone, bucket, lambda n: b"\x07" * n)


# --- residency --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant", "country", "zone"),
    [
        ("acme", "DE", "eu"),
        ("acme", "GB", "eu"),
        ("acme", "US", "us"),
        ("acme", "JP", "apac"),
        ("globex", "NO", "eu"),
    ],
)
def test_the_global_country_map_decides_the_zone(tenant: str, country: str, zone: str) -> None:
    decision = zone_of_order(TOPOLOGY, tenant, country)
    assert (decision.tenant, decision.country, decision.zone) == (tenant, country, zone)


def test_a_tenant_override_wins_over_the_global_map() -> None:
    assert TOPOLOGY.countries["GB"] == "eu"
    assert zone_of_order(TOPOLOGY, "initech", "GB").zone == "us"
    assert zone_of_order(TOPOLOGY, "initech", "DE").zone == "eu"  # only the overridden country moves


@pytest.mark.parametrize("country", ["CN", "ZA", "AQ", "", "de", "XX"])
def test_an_unmapped_country_is_denied_not_defaulted(country: str) -> None:
    with pytest.raises(ResidencyViolation) as exc:
        zone_of_order(TOPOLOGY, "acme", country)
    assert exc.value.metadata["country"] == country
    assert exc.value.reason == "RESIDENCY_VIOLATION"


@pytest.mark.parametrize(("tenant", "country", "zone"), [("globex", "US", "us"), ("initech", "JP", "apac")])
def test_a_zone_the_tenant_may_not_use_is_denied(tenant: str, country: str, zone: str) -> None:
    with pytest.raises(ResidencyViolation) as exc:
        zone_of_order(TOPOLOGY, tenant, country)
    assert dict(exc.value.metadata) == {"country": country, "zone": zone}


def test_an_unknown_tenant_is_not_found() -> None:
    with pytest.raises(NotFound):
        zone_of_order(TOPOLOGY, "umbrella", "DE")


# --- candidate regions ----------------------------------------------------------------------------


def test_an_unplaced_shard_is_served_by_its_zones_first_region_then_failover_order() -> None:
    route = route_shard(TOPOLOGY, ShardKey("acme", "eu", ACME), {}, ALL_REGIONS)
    assert (route.regions, route.epoch, route.zone) == (EU, 0, "eu")


@pytest.mark.parametrize(
    ("home", "expected"),
    [
        ("eu-west", EU),
        ("eu-central", ("eu-central", "eu-north", "eu-west")),
        ("eu-north", ("eu-north", "eu-west", "eu-central")),
    ],
)
def test_home_first_then_the_failover_order_wrapping(home: str, expected: tuple[str, ...]) -> None:
    assert candidate_regions(TOPOLOGY, "eu", home, ALL_REGIONS) == expected


def test_unhealthy_regions_are_skipped_keeping_the_order() -> None:
    healthy = ALL_REGIONS - {"eu-central"}
    assert candidate_regions(TOPOLOGY, "eu", "eu-central", healthy) == ("eu-north", "eu-west")


def test_a_zone_with_no_healthy_region_is_unavailable_even_if_other_zones_are_up() -> None:
    healthy = ALL_REGIONS - set(EU)
    with pytest.raises(ZoneUnavailable) as exc:
        route_new_order(TOPOLOGY, {}, healthy, "globex", "DE")
    assert dict(exc.value.metadata) == {"zone": "eu"}
    assert (exc.value.code, exc.value.reason) == ("UNAVAILABLE", "ZONE_UNAVAILABLE")


@given(
    zone=st.sampled_from(sorted(TOPOLOGY.zones)),
    home=st.sampled_from(sorted(ALL_REGIONS | {"nowhere"})),
    healthy=st.frozensets(st.sampled_from(sorted(ALL_REGIONS | {"nowhere"}))),
)
def test_candidates_are_only_ever_healthy_regions_of_the_zone(
    zone: str, home: str, healthy: frozenset[str]
) -> None:
    # home may be a region of another zone (a corrupt placement): still never leaves the zone.
    in_zone = [r.name for r in TOPOLOGY.zones[zone].regions]
    try:
        got = candidate_regions(TOPOLOGY, zone, home, healthy)
    except ZoneUnavailable:
        assert not healthy & set(in_zone)
        return
    assert got
    assert all(TOPOLOGY.region(r).zone == zone for r in got)
    assert set(got) == healthy & set(in_zone)
    assert len(set(got)) == len(got)
    if home in in_zone and home in healthy:
        assert got[0] == home
    start = in_zone.index(home) if home in in_zone else 0
    rotated = in_zone[start:] + in_zone[:start]
    assert list(got) == [r for r in rotated if r in healthy]


@given(
    tenant=st.sampled_from(["acme", "globex", "initech"]),
    country=st.sampled_from(sorted(TOPOLOGY.countries)),
    healthy=st.frozensets(st.sampled_from(sorted(ALL_REGIONS))),
)
def test_a_new_order_is_only_routed_within_its_residency_zone(
    tenant: str, country: str, healthy: frozenset[str]
) -> None:
    try:
        zone = zone_of_order(TOPOLOGY, tenant, country).zone
    except ResidencyViolation:
        with pytest.raises(ResidencyViolation):
            route_new_order(TOPOLOGY, {}, healthy, tenant, country)
        return
    try:
        route = route_new_order(TOPOLOGY, {}, healthy, tenant, country)
    except ZoneUnavailable:
        assert not any(TOPOLOGY.region(r).zone == zone for r in healthy)
        return
    assert route.zone == zone
    assert {TOPOLOGY.region(r).zone for r in route.regions} == {zone}


# --- placements -------------------------------------------------------------------------------


def test_a_placement_overrides_the_default_home_and_carries_its_epoch() -> None:
    shard = ShardKey("acme", "eu", ACME)
    placements = {shard: Placement(shard, "eu-north", 7)}
    route = route_shard(TOPOLOGY, shard, placements, ALL_REGIONS)
    assert (route.regions, route.epoch) == (("eu-north", "eu-west", "eu-central"), 7)


def test_another_shards_placement_does_not_apply() -> None:
    other = ShardKey("globex", "eu", GLOBEX)
    placements = {other: Placement(other, "eu-north", 7)}
    route = route_shard(TOPOLOGY, ShardKey("acme", "eu", ACME), placements, ALL_REGIONS)
    assert (route.regions[0], route.epoch) == ("eu-west", 0)


def test_a_placed_home_that_is_down_fails_over_within_the_zone_keeping_the_epoch() -> None:
    shard = ShardKey("acme", "us", ACME)
    placements = {shard: Placement(shard, "us-west", 3)}
    route = route_shard(TOPOLOGY, shard, placements, ALL_REGIONS - {"us-west"})
    assert (route.regions, route.epoch) == (("us-east",), 3)


# --- routing by order id ----------------------------------------------------------------------


def test_an_order_id_routes_to_its_shard_without_a_lookup() -> None:
    route = route_order_id(TOPOLOGY, {}, ALL_REGIONS, "acme", oid("apac", ACME))
    assert route.shard == ShardKey("acme", "apac", ACME)
    assert route.regions == ("ap-southeast", "ap-northeast")


def test_an_order_id_in_another_tenants_bucket_is_not_found() -> None:
    assert ACME != GLOBEX
    with pytest.raises(NotFound):
        route_order_id(TOPOLOGY, {}, ALL_REGIONS, "globex", oid("eu", ACME))


@pytest.mark.parametrize(
    ("tenant", "zone", "bucket"), [("globex", "us", GLOBEX), ("initech", "apac", INITECH)]
)
def test_an_order_id_in_a_zone_the_tenant_may_not_use_is_not_found(
    tenant: str, zone: str, bucket: int
) -> None:
    with pytest.raises(NotFound):
        route_order_id(TOPOLOGY, {}, ALL_REGIONS, tenant, oid(zone, bucket))


def test_an_order_id_of_an_unknown_zone_or_tenant_is_not_found() -> None:
    with pytest.raises(NotFound):
        route_order_id(TOPOLOGY, {}, ALL_REGIONS, "acme", oid("mars", ACME))
    with pytest.raises(NotFound):
        route_order_id(TOPOLOGY, {}, ALL_REGIONS, "umbrella", oid("eu", ACME))


@pytest.mark.parametrize(
    "order_id", ["", "eu-1", "EU-1-" + "0" * 26, "eu-01-" + "0" * 26, "eu-1-" + "o" * 26]
)
def test_a_malformed_order_id_is_invalid_argument(order_id: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        route_order_id(TOPOLOGY, {}, ALL_REGIONS, "acme", order_id)
    assert [v.field for v in exc.value.violations] == ["order_id"]


def test_an_order_id_route_uses_the_shards_placement() -> None:
    shard = ShardKey("acme", "eu", ACME)
    route = route_order_id(
        TOPOLOGY, {shard: Placement(shard, "eu-central", 4)}, ALL_REGIONS, "acme", oid("eu", 1)
    )
    assert (route.regions[0], route.epoch) == ("eu-central", 4)


def test_a_zone_wide_call_goes_to_the_tenants_shard_and_respects_allowed_zones() -> None:
    assert route_zone(TOPOLOGY, {}, ALL_REGIONS, "globex", "eu").shard == ShardKey("globex", "eu", GLOBEX)
    with pytest.raises(NotFound):
        route_zone(TOPOLOGY, {}, ALL_REGIONS, "globex", "us")
    with pytest.raises(NotFound):
        route_zone(TOPOLOGY, {}, ALL_REGIONS, "acme", "mars")
