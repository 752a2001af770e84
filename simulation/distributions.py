"""Service-time distributions (lognormal fitted to p50/p99, exponential, constant), sampled in blocks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulation.fields import ScenarioError, mapping, number, text

Z99 = 2.3263478740408408  # standard normal 0.99 quantile


@dataclass(frozen=True)
class ServiceDist:
    """A non-negative duration distribution, in seconds. `kind` is lognormal|exponential|constant|none."""

    kind: str
    a: float = 0.0  # lognormal: mu of ln(seconds); exponential: mean; constant: value
    b: float = 0.0  # lognormal: sigma

    @classmethod
    def lognormal_from_quantiles(cls, p50_s: float, p99_s: float) -> ServiceDist:
        """Matches the median and the 99th percentile exactly: mu = ln p50, sigma = ln(p99/p50) / z99."""
        if not 0 < p50_s <= p99_s:
            raise ValueError("need 0 < p50 <= p99")
        return cls("lognormal", math.log(p50_s), math.log(p99_s / p50_s) / Z99)

    @property
    def mean(self) -> float:
        if self.kind == "lognormal":
            return math.exp(self.a + self.b * self.b / 2)
        if self.kind in ("exponential", "constant"):
            return self.a
        return 0.0

    def quantile(self, q: float) -> float:
        if self.kind == "lognormal":
            return math.exp(self.a + self.b * _norm_ppf(q))
        if self.kind == "exponential":
            return -self.a * math.log(1.0 - q)
        return self.a if self.kind == "constant" else 0.0

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "lognormal":
            return rng.lognormal(self.a, self.b, n)
        if self.kind == "exponential":
            return rng.exponential(self.a, n)
        return np.full(n, self.a if self.kind == "constant" else 0.0)

    def describe(self) -> dict[str, float | str]:
        out: dict[str, float | str] = {"kind": self.kind, "mean_ms": round(self.mean * 1000, 4)}
        if self.kind == "lognormal":
            out |= {
                "p50_ms": round(self.quantile(0.5) * 1000, 4),
                "p99_ms": round(self.quantile(0.99) * 1000, 4),
                "mu": round(self.a, 6),
                "sigma": round(self.b, 6),
            }
        return out


def parse_dist(value: Any, at: str) -> ServiceDist:
    """`{dist: lognormal, p50_ms, p99_ms}`, `{dist: exponential, mean_ms}`, `{dist: constant, ms}`, none."""
    if value is None or value == "none":
        return ServiceDist("none")
    raw: Mapping[str, Any] = mapping(value, at)
    kind = text(raw, "dist", at, default="lognormal")
    if kind == "lognormal":
        mapping(raw, at, {"dist", "p50_ms", "p99_ms"})
        p50 = number(raw, "p50_ms", at, lo=0.0, lo_open=True)
        p99 = number(raw, "p99_ms", at, lo=p50)
        return ServiceDist.lognormal_from_quantiles(p50 / 1000, p99 / 1000)
    if kind == "exponential":
        mapping(raw, at, {"dist", "mean_ms"})
        return ServiceDist("exponential", number(raw, "mean_ms", at, lo=0.0, lo_open=True) / 1000)
    if kind == "constant":
        mapping(raw, at, {"dist", "ms"})
        return ServiceDist("constant", number(raw, "ms", at) / 1000)
    if kind == "none":
        mapping(raw, at, {"dist"})
        return ServiceDist("none")
    raise ScenarioError(
        f"{at}.dist", f"unknown distribution {kind!r} (lognormal, exponential, constant, none)"
    )


def _norm_ppf(q: float) -> float:
    """Inverse standard normal CDF (Acklam's approximation refined by one Newton step)."""
    if not 0.0 < q < 1.0:
        raise ValueError("q must be in (0, 1)")
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    lo = 0.02425
    if q < lo or q > 1 - lo:
        s = math.sqrt(-2 * math.log(q if q < lo else 1 - q))
        x = (((((c[0] * s + c[1]) * s + c[2]) * s + c[3]) * s + c[4]) * s + c[5]) / (
            (((d[0] * s + d[1]) * s + d[2]) * s + d[3]) * s + 1
        )
        x = x if q < lo else -x
    else:
        r = q - 0.5
        s = r * r
        x = (
            (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5])
            * r
            / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1)
        )
    e = 0.5 * math.erfc(-x / math.sqrt(2)) - q
    return x - e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
