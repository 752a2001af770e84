"""A scenario's demand: the geographies customers order from, their daily curve, and peak-event ramps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ordermesh.topology import Topology
from simulation.fields import ScenarioError, mapping, name_list, number, text, weights


@dataclass(frozen=True)
class Diurnal:
    """Rate multiplier over the local day: `trough` at the quietest hour, 1.0 at `peak_hour`."""

    trough: float = 1.0
    peak_hour: float = 20.0


@dataclass(frozen=True)
class Geography:
    name: str
    peak_rate: float  # orders/s when the diurnal curve is at 1.0 and no event is on
    utc_offset_h: float
    diurnal: Diurnal
    countries: Mapping[str, float]  # normalised weights
    tenants: Mapping[str, float]


@dataclass(frozen=True)
class Ramp:
    """A peak event (e.g. Black Friday): linear ramp to `factor`, hold, linear ramp back down."""

    start_s: float
    ramp_s: float
    hold_s: float
    factor: float
    geographies: tuple[str, ...]


def parse_geographies(value: Any, topology: Topology) -> dict[str, Geography]:
    raw = mapping(value, "traffic.geographies")
    if not raw:
        raise ScenarioError("traffic.geographies", "at least one geography is required")
    out: dict[str, Geography] = {}
    for name, graw in raw.items():
        at = f"traffic.geographies.{name}"
        g = mapping(graw, at, {"peak_rate", "utc_offset_h", "diurnal", "countries", "tenants"})
        d = mapping(g.get("diurnal", {}), f"{at}.diurnal", {"trough", "peak_hour"})
        out[str(name)] = Geography(
            name=str(name),
            peak_rate=number(g, "peak_rate", at),
            utc_offset_h=number(g, "utc_offset_h", at, default=0.0, lo=-14.0, hi=14.0),
            diurnal=Diurnal(
                number(d, "trough", f"{at}.diurnal", default=1.0, hi=1.0),
                number(d, "peak_hour", f"{at}.diurnal", default=20.0, hi=24.0),
            ),
            countries=weights(g.get("countries"), f"{at}.countries", None, "country"),
            tenants=weights(g.get("tenants"), f"{at}.tenants", topology.tenants, "tenant"),
        )
        for country in out[str(name)].countries:
            if len(country) != 2 or not country.isupper():
                raise ScenarioError(f"{at}.countries.{country}", "not an ISO 3166-1 alpha-2 country code")
    return out


def parse_ramps(value: Any, geos: Mapping[str, Geography]) -> tuple[Ramp, ...]:
    if not isinstance(value, list):
        raise ScenarioError("traffic.events", "a list of events")
    out = []
    for i, item in enumerate(value):
        at = f"traffic.events[{i}]"
        r = mapping(item, at, {"kind", "start_s", "ramp_s", "hold_s", "factor", "geographies"})
        if text(r, "kind", at, default="ramp") != "ramp":
            raise ScenarioError(
                f"{at}.kind", "the only event kind is 'ramp' (flash sales have their own list)"
            )
        out.append(
            Ramp(
                number(r, "start_s", at),
                number(r, "ramp_s", at, default=0.0),
                number(r, "hold_s", at),
                number(r, "factor", at, lo=0.0, lo_open=True),
                name_list(r.get("geographies", list(geos)), f"{at}.geographies", geos, "geography"),
            )
        )
    return tuple(out)
