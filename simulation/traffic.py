"""Storefront traffic: pure rate curves (diurnal, ramps, flash sales) and Poisson arrivals in numpy blocks.

Arrivals are a non-homogeneous Poisson process per stream, approximated per tick: a Poisson count
at the tick's mid-point rate, placed uniformly in the tick (exact when the rate is constant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.scenario import Diurnal, Geography, Ramp, Scenario


def diurnal_factor(d: Diurnal, local_hour: np.ndarray) -> np.ndarray:
    """1.0 at the peak hour, `trough` twelve hours away, a cosine in between."""
    phase = 2 * np.pi * (local_hour - d.peak_hour) / 24.0
    return d.trough + (1.0 - d.trough) * (0.5 + 0.5 * np.cos(phase))


def ramp_factor(r: Ramp, t: np.ndarray) -> np.ndarray:
    """1 before, linear up to `factor` over ramp_s, hold for hold_s, linear back down over ramp_s."""
    up_end = r.start_s + r.ramp_s
    hold_end = up_end + r.hold_s
    frac = np.zeros_like(t)
    if r.ramp_s > 0:
        frac = np.where((t >= r.start_s) & (t < up_end), (t - r.start_s) / r.ramp_s, frac)
        frac = np.where((t >= hold_end) & (t < hold_end + r.ramp_s), 1 - (t - hold_end) / r.ramp_s, frac)
    frac = np.where((t >= up_end) & (t < hold_end), 1.0, frac)
    return 1.0 + (r.factor - 1.0) * frac


def geography_rate(scenario: Scenario, geo: Geography, t: np.ndarray) -> np.ndarray:
    """Orders/s of one geography's regular traffic at simulated times t (seconds from the start)."""
    hour = np.mod(scenario.start_hour_utc + geo.utc_offset_h + t / 3600.0, 24.0)
    rate = geo.peak_rate * diurnal_factor(geo.diurnal, hour)
    for ramp in scenario.ramps:
        if geo.name in ramp.geographies:
            rate = rate * ramp_factor(ramp, t)
    return rate


def total_rate(scenario: Scenario, t: np.ndarray) -> np.ndarray:
    """All streams together: regular traffic of every geography plus flash sales."""
    rate = sum((geography_rate(scenario, g, t) for g in scenario.geographies.values()), np.zeros_like(t))
    for fs in scenario.flash_sales:
        rate = rate + np.where((t >= fs.start_s) & (t < fs.start_s + fs.duration_s), fs.rate, 0.0)
    return rate


@dataclass(frozen=True)
class Combo:
    """One kind of order: a geography's storefront, a tenant and a customer country."""

    geography: str
    tenant: str
    country: str


@dataclass
class Arrivals:
    """A block of new orders, sorted by time. hot = 0 for regular orders, k+1 for flash sale k."""

    times: np.ndarray
    combos: np.ndarray
    hot: np.ndarray
    invalid: np.ndarray


class TrafficModel:
    """Draws arrival blocks for every stream from one injected numpy Generator."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        self.scenario = scenario
        self.rng = rng
        self.combos: list[Combo] = []
        self._geo_combos: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for geo in scenario.geographies.values():
            idx, probs = [], []
            for tenant, tw in geo.tenants.items():
                for country, cw in geo.countries.items():
                    idx.append(len(self.combos))
                    probs.append(tw * cw)
                    self.combos.append(Combo(geo.name, tenant, country))
            self._geo_combos[geo.name] = (np.array(idx, dtype=np.int64), np.array(probs) / sum(probs))

    def block(self, start_s: float, n_ticks: int) -> Arrivals:
        dt = self.scenario.tick_s
        starts = start_s + dt * np.arange(n_ticks)
        mids = starts + dt / 2
        parts: list[tuple[np.ndarray, np.ndarray, int]] = []
        for geo in self.scenario.geographies.values():
            parts.append((*self._stream(starts, geography_rate(self.scenario, geo, mids) * dt, geo.name), 0))
        for k, fs in enumerate(self.scenario.flash_sales):
            on = (mids >= fs.start_s) & (mids < fs.start_s + fs.duration_s)
            if on.any():
                parts.append(
                    (*self._flash_stream(starts, np.where(on, fs.rate * dt, 0.0), fs.geographies), k + 1)
                )
        times = np.concatenate([p[0] for p in parts])
        combos = np.concatenate([p[1] for p in parts])
        hot = np.concatenate([np.full(len(p[0]), p[2], dtype=np.int64) for p in parts])
        order = np.argsort(times, kind="stable")
        invalid = self.rng.random(len(times)) < self.scenario.invalid_fraction
        return Arrivals(times[order], combos[order], hot[order], invalid)

    def _stream(self, starts: np.ndarray, expected: np.ndarray, geo: str) -> tuple[np.ndarray, np.ndarray]:
        counts = self.rng.poisson(expected)
        n = int(counts.sum())
        times = np.repeat(starts, counts) + self.rng.random(n) * self.scenario.tick_s
        idx, probs = self._geo_combos[geo]
        return times, idx[self.rng.choice(len(idx), size=n, p=probs)]

    def _flash_stream(
        self, starts: np.ndarray, expected: np.ndarray, geos: tuple[str, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        counts = self.rng.poisson(expected)
        n = int(counts.sum())
        times = np.repeat(starts, counts) + self.rng.random(n) * self.scenario.tick_s
        weights = np.array([self.scenario.geographies[g].peak_rate for g in geos], dtype=float) + 1e-12
        which = self.rng.choice(len(geos), size=n, p=weights / weights.sum())
        combos = np.empty(n, dtype=np.int64)
        for j, g in enumerate(geos):
            mask = which == j
            idx, probs = self._geo_combos[g]
            combos[mask] = idx[self.rng.choice(len(idx), size=int(mask.sum()), p=probs)]
        return times, combos
