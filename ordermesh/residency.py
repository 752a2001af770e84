"""Residency policy: which zone an order belongs to, and whether a tenant may use it (deny by default)."""

from __future__ import annotations

from dataclasses import dataclass

from ordermesh.errors import NotFound, ResidencyViolation
from ordermesh.record import Record
from ordermesh.topology import Topology


@dataclass(frozen=True)
class ResidencyDecision(Record):
    tenant: str
    country: str
    zone: str


def zone_of_order(topology: Topology, tenant: str, country: str) -> ResidencyDecision:
    """The zone whose database must hold an order of this tenant for a customer in this country.

    Tenant overrides win over the global map; a country mapped nowhere, or to a zone the tenant
    may not use, is refused — never defaulted to some other zone.
    """
    spec = topology.tenants.get(tenant)
    if spec is None:
        raise NotFound(f"unknown tenant {tenant!r}")
    zone = spec.country_overrides.get(country) or topology.countries.get(country)
    if zone is None:
        raise ResidencyViolation(
            f"no residency zone is configured for country {country}", {"country": country}
        )
    if zone not in spec.zones:
        raise ResidencyViolation(
            f"tenant {tenant} may not store orders in zone {zone} (country {country})",
            {"country": country, "zone": zone},
        )
    return ResidencyDecision(tenant, country, zone)
