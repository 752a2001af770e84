"""Queueing and statistics: Erlang C for M/M/c, and Student-t confidence intervals over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Two-sided 95% Student-t critical values t(0.975, df) for df = 1..30; beyond, the normal 1.96 is close.
T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_critical(df: int) -> float:
    if df < 1:
        raise ValueError("need at least 2 samples for a confidence interval")
    if df <= len(T975):
        return T975[df - 1]
    if df <= 60:
        return 2.000 + (2.042 - 2.000) * (60 - df) / 30  # linear between df 30 and 60
    return 1.96 + 0.04 * 60 / df


@dataclass(frozen=True)
class Interval:
    """A sample mean with its 95% confidence half-width (t-distribution over independent seeds)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self, digits: int = 6) -> dict[str, float | int]:
        return {
            "mean": round(self.mean, digits),
            "ci95": round(self.half_width, digits),
            "low": round(self.low, digits),
            "high": round(self.high, digits),
            "n": self.n,
        }


def confidence_interval(samples: Sequence[float]) -> Interval:
    values = [float(v) for v in samples if not math.isnan(float(v))]
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    mean = sum(values) / n
    if n == 1:
        return Interval(mean, math.inf, 1)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return Interval(mean, t_critical(n - 1) * math.sqrt(var / n), n)


def erlang_b(c: int, offered: float) -> float:
    """Blocking probability of M/M/c/c with offered load a = lambda/mu (stable recursion)."""
    b = 1.0
    for k in range(1, c + 1):
        b = offered * b / (k + offered * b)
    return b


def erlang_c(c: int, offered: float) -> float:
    """P(wait > 0) in M/M/c with offered load a = lambda/mu < c."""
    if offered >= c:
        return 1.0
    b = erlang_b(c, offered)
    rho = offered / c
    return b / (1 - rho + rho * b)


@dataclass(frozen=True)
class MMc:
    """Textbook M/M/c figures for arrival rate lam, service rate mu per server, c servers."""

    lam: float
    mu: float
    c: int

    @property
    def offered(self) -> float:
        return self.lam / self.mu

    @property
    def utilization(self) -> float:
        return self.offered / self.c

    @property
    def p_wait(self) -> float:
        return erlang_c(self.c, self.offered)

    @property
    def wq(self) -> float:
        return self.p_wait / (self.c * self.mu - self.lam)

    @property
    def w(self) -> float:
        return self.wq + 1 / self.mu

    @property
    def l(self) -> float:  # noqa: E743 - L is the textbook name (Little's law)
        return self.lam * self.w
