"""The topology model: zones, regions, databases, residency map, tenants — one YAML for every tool."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ordermesh.countries import is_country
from ordermesh.shard import ShardKey, is_tenant_name, is_zone_name
from ordermesh.topology_inventory import (
    InventoryConfigError,
    InventoryPolicy,
    WarehouseSpec,
    parse_policy,
    parse_warehouses,
)

_REGION = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9.\-]+:[0-9]{1,5}$|^\[[0-9a-fA-F:]+\]:[0-9]{1,5}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DB_SCHEMES = ("sqlite", "postgresql+psycopg", "postgresql", "cockroachdb", "cockroachdb+psycopg")


class TopologyError(ValueError):
    """A topology file is invalid; the message names the bad field by its path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Region:
    name: str
    zone: str
    endpoint: str
    warehouses: tuple[WarehouseSpec, ...] = ()


@dataclass(frozen=True)
class Zone:
    name: str
    database_url: str
    regions: tuple[Region, ...]  # in failover order: the first is the default home


@dataclass(frozen=True)
class Tenant:
    name: str
    zones: frozenset[str]
    api_key_sha256: frozenset[str]
    country_overrides: Mapping[str, str] = field(default_factory=dict)
    inventory: InventoryPolicy | None = None  # None: the tenant does not track stock here


@dataclass(frozen=True)
class Router:
    name: str
    endpoint: str


@dataclass(frozen=True)
class Topology:
    name: str
    buckets_per_zone: int
    zones: Mapping[str, Zone]
    countries: Mapping[str, str]  # country -> zone; unmapped countries are denied
    tenants: Mapping[str, Tenant]
    routers: tuple[Router, ...] = ()
    coordinator: str = "memory"  # "memory" or a ZooKeeper connect string "host:port[,host:port][/chroot]"
    # SHA-256 digests of the keys regions present to each other (internal PoolPeerService calls only)
    peer_key_sha256: frozenset[str] = frozenset()

    def region(self, name: str) -> Region:
        for zone in self.zones.values():
            for region in zone.regions:
                if region.name == name:
                    return region
        raise KeyError(name)

    @property
    def regions(self) -> tuple[Region, ...]:
        return tuple(r for z in self.zones.values() for r in z.regions)

    def warehouses(self, zone: str | None = None) -> dict[str, WarehouseSpec]:
        """Warehouses by name, of one zone or of all."""
        return {w.name: w for r in self.regions if zone in (None, r.zone) for w in r.warehouses}

    def shard(self, tenant: str, zone: str) -> ShardKey:
        return ShardKey.for_tenant(tenant, zone, self.buckets_per_zone)

    def tenant_for_key(self, api_key: str) -> Tenant | None:
        digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()
        for tenant in self.tenants.values():
            if digest in tenant.api_key_sha256:
                return tenant
        return None

    def is_peer_key(self, key: str) -> bool:
        """True for a key of region-to-region calls (never a tenant's key: parse_topology checks)."""
        return hashlib.sha256(key.encode("utf-8")).hexdigest() in self.peer_key_sha256


def hash_api_key(api_key: str) -> str:
    """What the topology stores for a key: its SHA-256 (keys are random, high-entropy tokens)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def load_topology(path: str | Path) -> Topology:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise TopologyError(str(path), f"cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise TopologyError(str(path), f"not valid YAML: {exc}") from exc
    return parse_topology(data, base_dir=path.parent)


def parse_topology(data: Any, base_dir: Path | None = None) -> Topology:
    """Validates raw YAML data into a Topology, or raises TopologyError naming the first bad field."""
    root = _mapping(data, "topology")
    _known(
        root,
        "topology",
        {"name", "buckets_per_zone", "zones", "residency", "tenants", "routers", "coordinator"}
        | {"peer_key_sha256"},
    )
    name = _str(root.get("name", "ordermesh"), "name")
    buckets = root.get("buckets_per_zone", 16)
    if not isinstance(buckets, int) or isinstance(buckets, bool) or not 1 <= buckets <= 4096:
        raise TopologyError("buckets_per_zone", "must be an integer 1..4096")
    zones = _zones(_mapping(root.get("zones"), "zones"), base_dir)
    residency = _mapping(root.get("residency", {}), "residency")
    _known(residency, "residency", {"countries"})
    countries = _country_map(residency.get("countries", {}), "residency.countries", zones)
    tenants = _tenants(_mapping(root.get("tenants", {}), "tenants"), zones)
    routers = _routers(root.get("routers", []))
    coordinator = _str(root.get("coordinator", "memory"), "coordinator")
    _unique_endpoints(zones, routers)
    peer_keys = _peer_keys(root.get("peer_key_sha256", []), tenants)
    return Topology(name, buckets, zones, countries, tenants, routers, coordinator, peer_keys)


def _peer_keys(raw: Any, tenants: Mapping[str, Tenant]) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(k, str) and _SHA256.fullmatch(k) for k in raw):
        raise TopologyError("peer_key_sha256", "a list of lowercase hex SHA-256 digests")
    for tenant in tenants.values():
        if tenant.api_key_sha256 & set(raw):
            raise TopologyError("peer_key_sha256", f"a peer key must not be a key of tenant {tenant.name}")
    return frozenset(raw)


def _zones(raw: Mapping[str, Any], base_dir: Path | None) -> dict[str, Zone]:
    if not raw:
        raise TopologyError("zones", "at least one zone is required")
    zones: dict[str, Zone] = {}
    seen_regions: set[str] = set()
    seen_warehouses: set[str] = set()
    for zname, zraw in raw.items():
        at = f"zones.{zname}"
        if not isinstance(zname, str) or not is_zone_name(zname):
            raise TopologyError(at, "zone names are 1..16 lowercase letters/digits, starting with a letter")
        zmap = _mapping(zraw, at)
        _known(zmap, at, {"database", "regions"})
        url = _database_url(zmap.get("database"), f"{at}.database", base_dir)
        rraw = _mapping(zmap.get("regions"), f"{at}.regions")
        if not rraw:
            raise TopologyError(f"{at}.regions", "a zone needs at least one region")
        regions = []
        for rname, rval in rraw.items():
            rat = f"{at}.regions.{rname}"
            if not isinstance(rname, str) or not _REGION.fullmatch(rname):
                raise TopologyError(rat, "region names are 2..32 of a-z 0-9 -, starting with a letter")
            if rname in seen_regions:
                raise TopologyError(rat, "region defined twice (a region belongs to exactly one zone)")
            seen_regions.add(rname)
            rmap = _mapping(rval, rat)
            _known(rmap, rat, {"endpoint", "warehouses"})
            try:
                stores = parse_warehouses(rmap.get("warehouses"), f"{rat}.warehouses", rname, zname)
            except InventoryConfigError as exc:
                raise TopologyError(exc.path, exc.problem) from None
            for w in stores:
                if w.name in seen_warehouses:
                    raise TopologyError(f"{rat}.warehouses.{w.name}", "warehouse defined twice")
                seen_warehouses.add(w.name)
            endpoint = _endpoint(rmap.get("endpoint"), f"{rat}.endpoint")
            regions.append(Region(rname, zname, endpoint, stores))
        zones[zname] = Zone(zname, url, tuple(regions))
    return zones


def _database_url(value: Any, at: str, base_dir: Path | None) -> str:
    url = _str(value, at)
    scheme = url.split("://", 1)[0]
    if "://" not in url or scheme not in _DB_SCHEMES:
        raise TopologyError(at, f"want a URL with one of the schemes {', '.join(_DB_SCHEMES)}")
    if scheme == "postgresql":
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if scheme == "cockroachdb":
        url = "cockroachdb+psycopg://" + url.split("://", 1)[1]
    if (
        scheme == "sqlite"
        and base_dir is not None
        and url.startswith("sqlite:///")
        and not url.startswith("sqlite:////")
    ):
        relative = url[len("sqlite:///") :]
        if relative and relative != ":memory:":
            url = f"sqlite:///{(base_dir / relative).resolve()}"
    return url


def _country_map(raw: Any, at: str, zones: Mapping[str, Zone]) -> dict[str, str]:
    out: dict[str, str] = {}
    for country, zone in _mapping(raw, at).items():
        if isinstance(country, bool):
            raise TopologyError(f"{at}.{country}", 'a country code read as a YAML boolean: quote it ("NO")')
        if not isinstance(country, str) or not is_country(country):
            raise TopologyError(f"{at}.{country}", "not an ISO 3166-1 alpha-2 country code")
        if not isinstance(zone, str) or zone not in zones:  # a list or mapping here is not hashable
            raise TopologyError(f"{at}.{country}", f"unknown zone {zone!r}")
        out[country] = zone
    return out


def _tenants(raw: Mapping[str, Any], zones: Mapping[str, Zone]) -> dict[str, Tenant]:
    tenants: dict[str, Tenant] = {}
    for tname, traw in raw.items():
        at = f"tenants.{tname}"
        if not isinstance(tname, str) or not is_tenant_name(tname):
            raise TopologyError(at, "tenant names are 2..40 of a-z 0-9 -, starting with a letter")
        tmap = _mapping(traw, at)
        _known(tmap, at, {"zones", "api_key_sha256", "country_overrides", "inventory"})
        allowed = tmap.get("zones", sorted(zones))
        if not isinstance(allowed, list) or not allowed:
            raise TopologyError(f"{at}.zones", "a non-empty list of zone names")
        for z in allowed:
            if not isinstance(z, str) or z not in zones:
                raise TopologyError(f"{at}.zones", f"unknown zone {z!r}")
        keys = tmap.get("api_key_sha256", [])
        if not isinstance(keys, list) or not all(isinstance(k, str) and _SHA256.fullmatch(k) for k in keys):
            raise TopologyError(f"{at}.api_key_sha256", "a list of lowercase hex SHA-256 digests")
        overrides = _country_map(tmap.get("country_overrides", {}), f"{at}.country_overrides", zones)
        for country, zone in overrides.items():
            if zone not in allowed:
                raise TopologyError(
                    f"{at}.country_overrides.{country}", f"zone {zone!r} is not in the tenant's zones"
                )
        try:
            inventory = parse_policy(tmap.get("inventory"), f"{at}.inventory")
        except InventoryConfigError as exc:
            raise TopologyError(exc.path, exc.problem) from None
        tenants[tname] = Tenant(tname, frozenset(allowed), frozenset(keys), overrides, inventory)
    return tenants


def _routers(raw: Any) -> tuple[Router, ...]:
    if not isinstance(raw, list):
        raise TopologyError("routers", "a list of {name, endpoint}")
    out = []
    for i, item in enumerate(raw):
        rmap = _mapping(item, f"routers[{i}]")
        _known(rmap, f"routers[{i}]", {"name", "endpoint"})
        out.append(
            Router(
                _str(rmap.get("name"), f"routers[{i}].name"),
                _endpoint(rmap.get("endpoint"), f"routers[{i}].endpoint"),
            )
        )
    return tuple(out)


def _unique_endpoints(zones: Mapping[str, Zone], routers: tuple[Router, ...]) -> None:
    """Two servers cannot listen on one address; the error names the second use and the first."""
    first_use: dict[str, str] = {}
    uses = [
        (f"zones.{r.zone}.regions.{r.name}.endpoint", r.endpoint) for z in zones.values() for r in z.regions
    ]
    uses += [(f"routers[{i}].endpoint", r.endpoint) for i, r in enumerate(routers)]
    for at, endpoint in uses:
        if endpoint in first_use:
            raise TopologyError(at, f"endpoint {endpoint} is already used by {first_use[endpoint]}")
        first_use[endpoint] = at


def _endpoint(value: Any, at: str) -> str:
    text = _str(value, at)
    if not _ENDPOINT.fullmatch(text) or not 1 <= int(text.rsplit(":", 1)[1]) <= 65535:
        raise TopologyError(at, f"want host:port, got {text!r}")
    return text


def _mapping(value: Any, at: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TopologyError(
            at, "required: a mapping" if value is None else f"must be a mapping, got {type(value).__name__}"
        )
    return value


def _str(value: Any, at: str) -> str:
    if not isinstance(value, str) or not value:
        raise TopologyError(at, "required: a non-empty string")
    return value


def _known(raw: Mapping[str, Any], at: str, allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise TopologyError(f"{at}.{unknown[0]}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
