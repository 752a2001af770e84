"""Pure parts of the simulator: traffic curves, Erlang C, confidence intervals, calibration, histograms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ordermesh.topology import Topology
from simulation.calibration import fit_stages, load_measurements
from simulation.distributions import ServiceDist
from simulation.fields import ScenarioError
from simulation.metrics import bucket_of, percentile
from simulation.scenario import Diurnal, Ramp
from simulation.stats import MMc, confidence_interval, erlang_c, t_critical
from simulation.traffic import diurnal_factor, ramp_factor


def test_diurnal_curve_peaks_at_peak_hour_and_bottoms_twelve_hours_later() -> None:
    d = Diurnal(trough=0.2, peak_hour=20)
    f = diurnal_factor(d, np.array([20.0, 8.0, 14.0]))
    assert f[0] == pytest.approx(1.0)
    assert f[1] == pytest.approx(0.2)
    assert f[2] == pytest.approx(0.6)


def test_ramp_goes_up_holds_and_comes_back() -> None:
    r = Ramp(start_s=100, ramp_s=100, hold_s=50, factor=3.0, geographies=("x",))
    t = np.array([0.0, 150.0, 200.0, 249.0, 300.0, 400.0])
    assert ramp_factor(r, t).tolist() == pytest.approx([1.0, 2.0, 3.0, 3.0, 2.0, 1.0])


def test_erlang_c_known_values() -> None:
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at rho 0.5
    assert erlang_c(10, 8.0) == pytest.approx(0.409, abs=1e-3)  # standard table value
    q = MMc(lam=80, mu=10, c=10)
    assert q.wq == pytest.approx(q.p_wait / 20)
    assert q.l == pytest.approx(80 * (q.wq + 0.1))


def test_confidence_interval_uses_student_t() -> None:
    ci = confidence_interval([1.0, 2.0, 3.0])
    assert ci.mean == 2.0
    assert ci.half_width == pytest.approx(4.303 / math.sqrt(3))
    assert ci.contains(0.0) and not ci.contains(4.6)
    assert t_critical(1) == 12.706 and 1.96 < t_critical(500) < 2.0


def test_lognormal_fit_matches_both_quantiles() -> None:
    d = ServiceDist.lognormal_from_quantiles(0.004, 0.020)
    assert d.quantile(0.5) == pytest.approx(0.004)
    assert d.quantile(0.99) == pytest.approx(0.020, rel=1e-6)
    sample = d.sample(np.random.default_rng(1), 200_000)
    assert np.quantile(sample, 0.99) == pytest.approx(0.020, rel=0.03)


def test_calibration_fits_and_cross_checks_throughput(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    path.write_text(
        json.dumps(
            {
                "schema": "ordermesh.bench/v1",
                "stages": {
                    "create_order": {"p50_ms": 4, "p99_ms": 20, "throughput_per_s": 1500, "concurrency": 8},
                    "db_commit": {"p50_ms": 2, "p99_ms": 9},
                },
            }
        )
    )
    fits = {f.stage: f for f in fit_stages(load_measurements(path))}
    summary = fits["create_order"].summary()
    assert summary["fitted"]["p50_ms"] == pytest.approx(4)
    assert summary["throughput_check"]["implied_mean_ms"] == pytest.approx(8000 / 1500, rel=1e-3)
    assert "throughput_check" not in fits["db_commit"].summary()


def test_calibration_errors_name_the_stage_and_field(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        fit_stages({"create_ordr": {"p50_ms": 1, "p99_ms": 2}})
    assert err.value.path == "stages.create_ordr"
    with pytest.raises(ScenarioError) as err:
        fit_stages({"db_commit": {"p50_ms": 5, "p99_ms": 2}})
    assert err.value.path == "stages.db_commit.p99_ms"


def test_histogram_percentiles_are_within_a_bucket() -> None:
    values = np.random.default_rng(3).lognormal(math.log(0.05), 0.6, 100_000)
    hist = np.bincount(bucket_of(values), minlength=322)
    for q in (0.5, 0.99):
        assert percentile(hist, q) == pytest.approx(float(np.quantile(values, q)), rel=0.06)
    assert math.isnan(percentile(np.zeros(322, dtype=np.int64), 0.5))


def test_cluster_view_promotes_only_within_the_zone(topology: Topology) -> None:
    from simulation.cluster import FENCED, ZONE_DOWN, ClusterView
    from simulation.traffic import Combo

    combos = [Combo("g", "globex", "DE"), Combo("g", "acme", "US"), Combo("g", "globex", "US")]
    view = ClusterView(topology, combos, "spread")
    home = view.regions[int(view.table()[0])]
    assert topology.region(home).zone == "eu"
    assert int(view.table()[2]) == -1  # globex may not use the us zone: residency refusal
    view.mark_down(home)
    assert int(view.table()[0]) == FENCED  # detected, not yet promoted: the next region refuses
    assert view.promote_from(home) == 1
    new_home = view.regions[int(view.table()[0])]
    assert new_home != home and topology.region(new_home).zone == "eu"
    for region in ("eu-west", "eu-central", "eu-north"):
        view.mark_down(region)
    assert int(view.table()[0]) == ZONE_DOWN
