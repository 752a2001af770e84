"""The topology file: the example loads, and every bad field is refused naming its path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ordermesh.shard import ShardKey
from ordermesh.topology import Topology, TopologyError, hash_api_key, load_topology, parse_topology

REPO = Path(__file__).resolve().parents[2]
THREE_ZONES = REPO / "deploy" / "topologies" / "three-zones.yaml"
SHA = "ab" * 32

BASE: dict[str, Any] = {
    "name": "t",
    "buckets_per_zone": 8,
    "zones": {
        "eu": {
            "database": "sqlite:////tmp/eu.sqlite",
            "regions": {
                "eu-west": {"endpoint": "127.0.0.1:7101"},
                "eu-central": {"endpoint": "127.0.0.1:7102"},
            },
        },
        "us": {"database": "postgresql://u@h/us", "regions": {"us-east": {"endpoint": "127.0.0.1:7201"}}},
    },
    "residency": {"countries": {"DE": "eu", "US": "us"}},
    "tenants": {
        "acme": {"zones": ["eu", "us"], "api_key_sha256": [SHA]},
        "initech": {"zones": ["eu", "us"], "country_overrides": {"GB": "us"}},
    },
    "routers": [{"name": "router-1", "endpoint": "127.0.0.1:7001"}],
}


@pytest.fixture(scope="module")
def three_zones() -> Topology:
    return load_topology(THREE_ZONES)


def with_change(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def test_the_base_of_the_bad_field_cases_is_itself_valid() -> None:
    # Otherwise each case below could be failing for a reason other than the one it names.
    topo = parse_topology(copy.deepcopy(BASE))
    assert set(topo.zones) == {"eu", "us"}
    assert topo.zones["us"].database_url == "postgresql+psycopg://u@h/us"


# --- the example file -------------------------------------------------------------------------


def test_three_zones_loads_with_its_zones_and_regions_in_failover_order(three_zones: Topology) -> None:
    t = three_zones
    assert (t.name, t.buckets_per_zone, t.coordinator) == ("three-zones", 16, "memory")
    assert {z: [r.name for r in zone.regions] for z, zone in t.zones.items()} == {
        "eu": ["eu-west", "eu-central", "eu-north"],
        "us": ["us-east", "us-west"],
        "apac": ["ap-southeast", "ap-northeast"],
    }
    assert len(t.regions) == 7
    assert all(r.zone == z for z, zone in t.zones.items() for r in zone.regions)
    assert t.region("us-west").endpoint == "127.0.0.1:7202"
    assert [(r.name, r.endpoint) for r in t.routers] == [("router-1", "127.0.0.1:7001")]
    with pytest.raises(KeyError):
        t.region("mars-1")


def test_three_zones_residency_tenants_and_overrides(three_zones: Topology) -> None:
    t = three_zones
    assert len(t.countries) == 26
    assert [t.countries[c] for c in ("NO", "GB", "BR", "NZ")] == ["eu", "eu", "us", "apac"]
    assert "CN" not in t.countries  # unmapped: denied, no default zone
    assert {n: set(x.zones) for n, x in t.tenants.items()} == {
        "acme": {"eu", "us", "apac"},
        "globex": {"eu"},
        "initech": {"eu", "us"},
    }
    assert dict(t.tenants["initech"].country_overrides) == {"GB": "us"}
    assert dict(t.tenants["acme"].country_overrides) == {}


def test_three_zones_databases_resolve_next_to_the_file(three_zones: Topology) -> None:
    expected = (THREE_ZONES.parent / "var" / "eu.sqlite").resolve()
    assert three_zones.zones["eu"].database_url == f"sqlite:///{expected}"


@pytest.mark.parametrize(
    ("key", "tenant"),
    [("acme-demo-key", "acme"), ("globex-demo-key", "globex"), ("initech-demo-key", "initech")],
)
def test_demo_keys_identify_their_tenant(three_zones: Topology, key: str, tenant: str) -> None:
    found = three_zones.tenant_for_key(key)
    assert found is not None and found.name == tenant


# The stored digest itself is not a key: whoever reads the topology file cannot log in with it.
@pytest.mark.parametrize(
    "key", ["", "acme-demo-key ", "ACME-DEMO-KEY", "acme", hash_api_key("acme-demo-key")]
)
def test_other_keys_identify_no_tenant(three_zones: Topology, key: str) -> None:
    assert three_zones.tenant_for_key(key) is None


def test_shard_uses_the_topologys_bucket_count(three_zones: Topology) -> None:
    assert three_zones.shard("acme", "eu") == ShardKey("acme", "eu", 1)


# --- every bad field names its path ------------------------------------------------------------


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[last] = value

    return change


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for p in parents:
            node = node[p]
        del node[last]

    return change


EU_WEST = "zones/eu/regions/eu-west"
EU_WEST_AT = "zones.eu.regions.eu-west"
ACME_KEYS = "tenants/acme/api_key_sha256"
ACME_KEYS_AT = "tenants.acme.api_key_sha256"
GB_OVERRIDE = "tenants/initech/country_overrides"
GB_OVERRIDE_AT = "tenants.initech.country_overrides"
Change = Callable[[dict[str, Any]], object]

BAD: list[tuple[str, Change, str]] = [
    ("unknown top-level field", _set("zonez", {}), "topology.zonez"),
    ("zones missing", _del("zones"), "zones"),
    ("no zones", _set("zones", {}), "zones"),
    ("upper-case zone name", _set("zones/EU", BASE["zones"]["us"]), "zones.EU"),
    ("zone name with a dash", _set("zones/eu-2", BASE["zones"]["us"]), "zones.eu-2"),
    ("unknown zone field", _set("zones/eu/replicas", 3), "zones.eu.replicas"),
    ("zone without regions", _set("zones/eu/regions", {}), "zones.eu.regions"),
    (
        "region in two zones",
        _set("zones/us/regions/eu-west", {"endpoint": "h:9"}),
        "zones.us.regions.eu-west",
    ),
    ("bad region name", _set("zones/eu/regions/EU_West", {"endpoint": "h:9"}), "zones.eu.regions.EU_West"),
    ("unknown region field", _set(f"{EU_WEST}/port", 1), f"{EU_WEST_AT}.port"),
    ("endpoint without port", _set(f"{EU_WEST}/endpoint", "localhost"), f"{EU_WEST_AT}.endpoint"),
    ("endpoint port 0", _set(f"{EU_WEST}/endpoint", "h:0"), f"{EU_WEST_AT}.endpoint"),
    ("endpoint port 65536", _set(f"{EU_WEST}/endpoint", "h:65536"), f"{EU_WEST_AT}.endpoint"),
    ("endpoint with newline", _set(f"{EU_WEST}/endpoint", "h:80\n"), f"{EU_WEST_AT}.endpoint"),
    ("endpoint not a string", _set(f"{EU_WEST}/endpoint", 7101), f"{EU_WEST_AT}.endpoint"),
    ("router endpoint", _set("routers/0/endpoint", "127.0.0.1"), "routers[0].endpoint"),
    ("routers not a list", _set("routers", {"name": "r"}), "routers"),
    (
        "duplicate region endpoint",
        _set("zones/us/regions/us-east/endpoint", "127.0.0.1:7101"),
        "zones.us.regions.us-east.endpoint",
    ),
    ("router on a region's endpoint", _set("routers/0/endpoint", "127.0.0.1:7102"), "routers[0].endpoint"),
    ("database scheme", _set("zones/eu/database", "mysql://h/eu"), "zones.eu.database"),
    ("database not a URL", _set("zones/eu/database", "/var/eu.sqlite"), "zones.eu.database"),
    ("database missing", _del("zones/eu/database"), "zones.eu.database"),
    ("unknown residency field", _set("residency/default", "eu"), "residency.default"),
    ("residency to unknown zone", _set("residency/countries/DE", "mars"), "residency.countries.DE"),
    ("residency to a list", _set("residency/countries/DE", ["eu"]), "residency.countries.DE"),
    ("non-ISO country", _set("residency/countries/XX", "eu"), "residency.countries.XX"),
    ("lower-case country", _set("residency/countries/de", "eu"), "residency.countries.de"),
    ("tenant with unknown zone", _set("tenants/acme/zones", ["eu", "mars"]), "tenants.acme.zones"),
    ("tenant zones nested list", _set("tenants/acme/zones", [["eu"]]), "tenants.acme.zones"),
    ("tenant with no zones", _set("tenants/acme/zones", []), "tenants.acme.zones"),
    ("bad tenant name", _set("tenants/Acme", {}), "tenants.Acme"),
    ("unknown tenant field", _set("tenants/acme/plan", "gold"), "tenants.acme.plan"),
    ("api key upper-case hex", _set(ACME_KEYS, [SHA.upper()]), ACME_KEYS_AT),
    ("api key 63 hex digits", _set(ACME_KEYS, [SHA[:63]]), ACME_KEYS_AT),
    ("api key not a list", _set(ACME_KEYS, SHA), ACME_KEYS_AT),
    ("api key a plain key", _set(ACME_KEYS, ["acme-demo-key"]), ACME_KEYS_AT),
    ("override to unknown zone", _set(f"{GB_OVERRIDE}/GB", "uk"), f"{GB_OVERRIDE_AT}.GB"),
    ("override of non-ISO country", _set(f"{GB_OVERRIDE}/UK", "us"), f"{GB_OVERRIDE_AT}.UK"),
    ("buckets_per_zone 0", _set("buckets_per_zone", 0), "buckets_per_zone"),
    ("buckets_per_zone 4097", _set("buckets_per_zone", 4097), "buckets_per_zone"),
    ("buckets_per_zone true", _set("buckets_per_zone", True), "buckets_per_zone"),
    ("buckets_per_zone string", _set("buckets_per_zone", "16"), "buckets_per_zone"),
    ("empty name", _set("name", ""), "name"),
]


@pytest.mark.parametrize(("change", "path"), [(c, p) for _, c, p in BAD], ids=[n for n, _, _ in BAD])
def test_a_bad_field_is_refused_naming_its_path(change: Change, path: str) -> None:
    with pytest.raises(TopologyError) as exc:
        parse_topology(with_change(change))
    assert exc.value.path == path
    assert str(exc.value).startswith(f"{path}: ")


def test_a_duplicate_endpoint_names_both_uses() -> None:
    with pytest.raises(TopologyError) as exc:
        parse_topology(with_change(_set("zones/us/regions/us-east/endpoint", "127.0.0.1:7101")))
    assert "zones.eu.regions.eu-west.endpoint" in exc.value.problem


@pytest.mark.parametrize("data", [None, [], "zones: {}", 3])
def test_a_file_that_is_not_a_mapping_is_refused(data: object) -> None:
    with pytest.raises(TopologyError) as exc:
        parse_topology(data)
    assert exc.value.path == "topology"


# --- from YAML text -----------------------------------------------------------------------------

YAML = """
zones:
  eu:
    database: "{database}"
    regions: {{eu-west: {{endpoint: "127.0.0.1:7101"}}}}
residency:
  countries:
    {country}: eu
"""


def write(tmp_path: Path, database: str = "sqlite://", country: str = "DE") -> Path:
    path = tmp_path / "conf" / "topo.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(YAML.format(database=database, country=country))
    return path


@pytest.mark.parametrize("country", ["NO", "no", "No", "off", "yes"])
def test_a_country_key_read_as_a_yaml_boolean_says_to_quote_it(tmp_path: Path, country: str) -> None:
    with pytest.raises(TopologyError) as exc:
        load_topology(write(tmp_path, country=country))
    assert exc.value.path.startswith("residency.countries.")
    assert "quote" in exc.value.problem


def test_a_quoted_no_is_norway(tmp_path: Path) -> None:
    assert load_topology(write(tmp_path, country='"NO"')).countries == {"NO": "eu"}


def test_relative_sqlite_paths_resolve_against_the_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, database="sqlite:///var/eu.sqlite")
    monkeypatch.chdir(REPO)  # not the file's directory: the result must not depend on the cwd
    url = load_topology(path).zones["eu"].database_url
    assert url == f"sqlite:///{(tmp_path / 'conf' / 'var' / 'eu.sqlite').resolve()}"


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        ("sqlite:////abs/eu.sqlite", "sqlite:////abs/eu.sqlite"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("sqlite://", "sqlite://"),
        ("postgresql://u@h:5432/eu", "postgresql+psycopg://u@h:5432/eu"),
        ("cockroachdb://u@h:26257/eu", "cockroachdb+psycopg://u@h:26257/eu"),
        ("postgresql+psycopg://u@h/eu", "postgresql+psycopg://u@h/eu"),
    ],
)
def test_other_database_urls_are_kept_or_given_the_psycopg_driver(
    tmp_path: Path, database: str, expected: str
) -> None:
    assert load_topology(write(tmp_path, database=database)).zones["eu"].database_url == expected


def test_an_unreadable_or_invalid_file_is_a_topology_error(tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as exc:
        load_topology(tmp_path / "missing.yaml")
    assert exc.value.path == str(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("zones: [unclosed\n")
    with pytest.raises(TopologyError, match="not valid YAML"):
        load_topology(bad)


def test_country_override_to_a_zone_the_tenant_may_not_use_is_refused_at_load() -> None:
    import yaml

    data = yaml.safe_load(THREE_ZONES.read_text())
    data["tenants"]["globex"]["country_overrides"] = {"US": "us"}
    with pytest.raises(TopologyError) as info:
        parse_topology(data)
    assert info.value.path == "tenants.globex.country_overrides.US"


# -- inventory sections ----------------------------------------------------------------------------


def _with_inventory(region_extra: dict[str, object], tenant_extra: dict[str, object]) -> dict[str, object]:
    return {
        "zones": {
            "eu": {
                "database": "sqlite://",
                "regions": {"eu-west": {"endpoint": "127.0.0.1:1", **region_extra}},
            }
        },
        "residency": {"countries": {"DE": "eu"}},
        "tenants": {"acme": {"zones": ["eu"], **tenant_extra}},
    }


def test_warehouses_and_tenant_inventory_policy_parse() -> None:
    topo = parse_topology(
        _with_inventory(
            {"warehouses": {"dub-1": {"cost": 120, "capacity": 500}, "dub-2": None}},
            {
                "inventory": {
                    "backorder": "ship_partial",
                    "partial_threshold_bps": 5000,
                    "allocation": "tier_priority",
                    "holdback_bps": 2000,
                    "protected_tier": "platinum",
                    "hold_seconds": 60,
                }
            },
        )
    )
    stores = topo.warehouses("eu")
    assert sorted(stores) == ["dub-1", "dub-2"]
    assert (stores["dub-1"].region, stores["dub-1"].zone, stores["dub-1"].cost, stores["dub-1"].capacity) == (
        "eu-west",
        "eu",
        120,
        500,
    )
    policy = topo.tenants["acme"].inventory
    assert policy is not None and policy.protected_tier == 3 and policy.hold_seconds == 60
    assert parse_topology(_with_inventory({}, {})).tenants["acme"].inventory is None


@pytest.mark.parametrize(
    ("region_extra", "tenant_extra", "path"),
    [
        ({"warehouses": {"Bad Name": {}}}, {}, "zones.eu.regions.eu-west.warehouses.Bad Name"),
        ({"warehouses": {"dub-1": {"cost": -1}}}, {}, "zones.eu.regions.eu-west.warehouses.dub-1.cost"),
        ({"warehouses": {"dub-1": {"size": 1}}}, {}, "zones.eu.regions.eu-west.warehouses.dub-1.size"),
        ({}, {"inventory": {"backorder": "maybe"}}, "tenants.acme.inventory.backorder"),
        ({}, {"inventory": {"partial_threshold_bps": 10}}, "tenants.acme.inventory.partial_threshold_bps"),
        ({}, {"inventory": {"holdback_bps": 10}}, "tenants.acme.inventory.holdback_bps"),
        ({}, {"inventory": {"hold_seconds": 0}}, "tenants.acme.inventory.hold_seconds"),
        ({}, {"inventory": {"protected_tier": "bronze"}}, "tenants.acme.inventory.protected_tier"),
        ({}, {"inventory": ["reject"]}, "tenants.acme.inventory"),
    ],
)
def test_inventory_sections_name_the_bad_field(
    region_extra: dict[str, object], tenant_extra: dict[str, object], path: str
) -> None:
    with pytest.raises(TopologyError) as bad:
        parse_topology(_with_inventory(region_extra, tenant_extra))
    assert bad.value.path == path


def test_the_cluster_topology_document_reads_back_equal() -> None:
    from deploy.cluster import topology_document

    topo = load_topology(THREE_ZONES)
    again = parse_topology(copy.deepcopy(topology_document(topo)))
    assert again.zones == topo.zones and again.tenants == topo.tenants
    assert again.warehouses() == topo.warehouses() and again.tenants["initech"].inventory is not None
