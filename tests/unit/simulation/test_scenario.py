"""Scenario files are validated once, and every error names the bad field by its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ordermesh.topology import Topology
from simulation.fields import ScenarioError
from simulation.scenario import load_scenario, parse_scenario


def test_smoke_scenario_loads(topology: Topology, smoke_data: dict[str, Any]) -> None:
    s = parse_scenario(smoke_data, topology)
    assert s.duration_s == 120
    assert s.instances["eu-west"] == 2 and s.workers("eu-west") == 8
    assert abs(sum(s.geographies["europe"].countries.values()) - 1) < 1e-12
    assert s.failures.outages[0].target == "eu-west"
    assert s.latency_s["europe"]["eu-west"] == pytest.approx(0.009)  # 8 ms + 1 ms router


def test_gossip_defaults_follow_the_sale(topology: Topology, smoke_data: dict[str, Any]) -> None:
    sale = smoke_data["traffic"]["flash_sales"][0]
    for key in ("cross_zone_ms", "gossip_interval_ms", "gossip_delay_ms"):
        sale.pop(key, None)
    (default,) = parse_scenario(smoke_data, topology).flash_sales
    assert (default.cross_zone_s, default.gossip_interval_s, default.gossip_delay_s) == (0.08, 0.5, 0.08)
    sale["cross_zone_ms"] = 120  # the gossip delay defaults to the sale's cross-zone delay ...
    assert parse_scenario(smoke_data, topology).flash_sales[0].gossip_delay_s == pytest.approx(0.12)
    sale.update(gossip_interval_ms=0, gossip_delay_ms=0)  # ... and both can be set on their own
    (instant,) = parse_scenario(smoke_data, topology).flash_sales
    assert (instant.cross_zone_s, instant.gossip_interval_s, instant.gossip_delay_s) == (0.12, 0.0, 0.0)


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.pop("duration_s"), "duration_s"),
        (lambda d: d.update(duration_s="long"), "duration_s"),
        (lambda d: d.update(colour="red"), "colour"),
        (
            lambda d: d["traffic"]["geographies"]["europe"].update(peak_rate=-1),
            "traffic.geographies.europe.peak_rate",
        ),
        (
            lambda d: d["traffic"]["geographies"]["europe"]["tenants"].update(umbrella=1),
            "traffic.geographies.europe.tenants.umbrella",
        ),
        (lambda d: d["capacity"]["instances"].update({"mars-1": 3}), "capacity.instances.mars-1"),
        (lambda d: d["service"]["app"].update(p99_ms=1), "service.app.p99_ms"),
        (lambda d: d["service"]["app"].update(dist="gamma"), "service.app.dist"),
        (lambda d: d["failures"]["outages"][0].update(region="moon"), "failures.outages[0].region"),
        (lambda d: d["failures"]["outages"][0].update(zone="eu"), "failures.outages[0]"),
        (lambda d: d["traffic"]["flash_sales"][0].update(strategy="hope"), "traffic.flash_sales[0].strategy"),
        (
            lambda d: d["traffic"]["flash_sales"][0].update(gossip_interval_ms=-1),
            "traffic.flash_sales[0].gossip_interval_ms",
        ),
        (
            lambda d: d["traffic"]["flash_sales"][0].update(gossip_delay_ms="soon"),
            "traffic.flash_sales[0].gossip_delay_ms",
        ),
        (
            lambda d: d["traffic"]["flash_sales"][0].update(gossip_every_ms=5),
            "traffic.flash_sales[0].gossip_every_ms",
        ),
        (
            lambda d: d["traffic"]["events"][0].update(geographies=["mars"]),
            "traffic.events[0].geographies[0]",
        ),
        (lambda d: d["latency_ms"]["europe"].update({"nowhere": 3}), "latency_ms.europe.nowhere"),
        (lambda d: d["client"]["retry"].update(max_attempts=0), "client.retry.max_attempts"),
        (lambda d: d.update(placement="random"), "placement"),
    ],
)
def test_bad_field_is_named(topology: Topology, smoke_data: dict[str, Any], mutate: Any, path: str) -> None:
    mutate(smoke_data)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(smoke_data, topology)
    assert err.value.path == path
    assert str(err.value).startswith(path + ":")


def test_unreadable_and_invalid_yaml_files(topology: Topology, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml", topology)
    bad = tmp_path / "bad.yaml"
    bad.write_text("traffic: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad, topology)


def test_calibration_file_replaces_service_stages(
    topology: Topology, smoke_data: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "bench.json").write_text('{"stages": {"create_order": {"p50_ms": 5, "p99_ms": 50}}}')
    smoke_data["calibration"] = "bench.json"
    s = parse_scenario(smoke_data, topology, base_dir=tmp_path)
    assert s.service.app.quantile(0.5) == pytest.approx(0.005)
    assert s.service.app.quantile(0.99) == pytest.approx(0.050, rel=1e-6)
    assert s.service.db_commit.quantile(0.5) == pytest.approx(0.003)  # not calibrated: kept
