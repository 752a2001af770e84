"""The metrics collector: per-bin counters and log-bucket latency histograms in preallocated numpy arrays.

Processes only append small tuples to buffers; flushes turn them into bin counts with numpy, so no
per-order object outlives a flush.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np

BUCKET_MIN_S = 1e-5
PER_DECADE = 40
N_BUCKETS = 2 + PER_DECADE * 8  # underflow, 10 us .. 1000 s, overflow
FLUSH_AT = 1 << 16


class Code(IntEnum):
    """What happened to an order (outcomes, exactly one per order) or to one attempt of it."""

    GENERATED = 0
    ACCEPTED = 1
    REJECTED_VALIDATION = 2
    REJECTED_RESIDENCY = 3
    REJECTED_STOCK = 4
    FAILED_DEADLINE = 5
    FAILED_ZONE_UNAVAILABLE = 6
    FAILED_FENCED = 7
    ATTEMPT_TIMEOUT = 8
    RETRY = 9
    ATTEMPT_ZONE_UNAVAILABLE = 10
    ATTEMPT_FENCED = 11
    RESIDENCY_VIOLATION = 12
    INVALID_TRANSITION = 13


OUTCOMES = {
    "accepted": (Code.ACCEPTED,),
    "rejected": (Code.REJECTED_VALIDATION, Code.REJECTED_RESIDENCY, Code.REJECTED_STOCK),
    "failed": (Code.FAILED_DEADLINE, Code.FAILED_ZONE_UNAVAILABLE, Code.FAILED_FENCED),
}


def bucket_edges() -> np.ndarray:
    """Upper edges of the finite buckets, in seconds (bucket i covers edges[i-1]..edges[i])."""
    return BUCKET_MIN_S * 10.0 ** (np.arange(N_BUCKETS - 1) / PER_DECADE)


def bucket_of(seconds: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        b = np.floor(np.log10(np.maximum(seconds, 1e-12) / BUCKET_MIN_S) * PER_DECADE).astype(np.int64) + 1
    out: np.ndarray = np.clip(b, 0, N_BUCKETS - 1)
    return out


def percentile(hist: np.ndarray, q: float) -> float:
    """The q-quantile (0..1) of a bucket histogram, geometric inside its bucket; nan if empty."""
    total = hist.sum()
    if total == 0:
        return math.nan
    cum = np.cumsum(hist)
    rank = q * total
    b = int(np.searchsorted(cum, rank, side="left"))
    b = min(max(b, 0), N_BUCKETS - 1)
    if b == 0:
        return BUCKET_MIN_S
    below = cum[b - 1] if b > 0 else 0
    frac = (rank - below) / max(hist[b], 1)
    lo = BUCKET_MIN_S * 10.0 ** ((b - 1) / PER_DECADE)
    return float(lo * 10.0 ** (min(max(frac, 0.0), 1.0) / PER_DECADE))


def percentiles_over_bins(hist: np.ndarray, q: float) -> np.ndarray:
    return np.array([percentile(row, q) for row in hist])


class Metrics:
    """Everything a report needs, binned by simulated time; regions are indexed as in the ClusterView."""

    def __init__(
        self, n_bins: int, bin_s: float, n_regions: int, warmup_s: float = 0.0, until_s: float = math.inf
    ) -> None:
        self.n_bins, self.bin_s, self.n_regions = n_bins, bin_s, n_regions
        self.warmup_s, self.until_s = warmup_s, until_s  # the steady-state window: orders first sent in it
        self.counts = np.zeros((n_bins, len(Code)), dtype=np.int64)
        self.hist = np.zeros((n_bins, N_BUCKETS), dtype=np.int64)
        self.region_hist = np.zeros((n_regions, N_BUCKETS), dtype=np.int64)
        self.region_done = np.zeros((n_bins, n_regions), dtype=np.int64)
        self.region_busy = np.zeros((n_bins, n_regions))  # busy worker-seconds, by bin of service start
        self.queue = np.zeros((n_bins, n_regions))  # waiting orders, sampled at each bin's end
        self.in_service = np.zeros((n_bins, n_regions))
        self.region_timeouts = np.zeros(
            n_regions, dtype=np.int64
        )  # attempts a region took but did not answer
        # Steady-state sums over orders first sent in [warmup_s, until_s) (validation).
        self.sum_sojourn = self.sum_wait = 0.0
        self.n_waited = self.n_served = 0
        self.little_sum = 0.0
        self.little_n = 0
        self._served: list[tuple[float, float, float, int]] = []
        self._events: list[tuple[float, int]] = []

    def _bin(self, t: float) -> int:
        return min(int(t / self.bin_s), self.n_bins - 1)

    def count(self, t: float, code: int) -> None:
        self._events.append((t, code))
        if len(self._events) >= FLUSH_AT:
            self.flush()

    def count_many(self, times: np.ndarray, code: int) -> None:
        if len(times):
            bins = np.minimum((times / self.bin_s).astype(np.int64), self.n_bins - 1)
            self.counts[:, code] += np.bincount(bins, minlength=self.n_bins)

    def served(self, t_client: float, latency: float, wait: float, region: int) -> None:
        """One answered order: the client saw it at t_client, `latency` after its first attempt."""
        self._served.append((t_client, latency, wait, region))
        if len(self._served) >= FLUSH_AT:
            self.flush()

    def sample_little(self, t: float, in_system: int) -> None:
        if self.warmup_s <= t < self.until_s:
            self.little_sum += in_system
            self.little_n += 1

    def flush(self) -> None:
        if self._events:
            ev = np.array(self._events)
            self._events.clear()
            self.count_many_codes(ev[:, 0], ev[:, 1].astype(np.int64))
        if not self._served:
            return
        s = np.array(self._served)
        self._served.clear()
        bins = np.minimum((s[:, 0] / self.bin_s).astype(np.int64), self.n_bins - 1)
        region = s[:, 3].astype(np.int64)
        b = bucket_of(s[:, 1])
        first = s[:, 0] - s[:, 1]
        steady = (first >= self.warmup_s) & (first < self.until_s)
        self.hist += np.bincount(bins * N_BUCKETS + b, minlength=self.hist.size).reshape(self.hist.shape)
        self.region_hist += np.bincount(
            region[steady] * N_BUCKETS + b[steady], minlength=self.region_hist.size
        ).reshape(self.region_hist.shape)
        self.region_done += np.bincount(
            bins * self.n_regions + region, minlength=self.region_done.size
        ).reshape(self.region_done.shape)
        self.sum_sojourn += float(s[steady, 1].sum())
        self.sum_wait += float(s[steady, 2].sum())
        self.n_waited += int((s[steady, 2] > 1e-12).sum())
        self.n_served += int(steady.sum())

    def count_many_codes(self, times: np.ndarray, codes: np.ndarray) -> None:
        bins = np.minimum((times / self.bin_s).astype(np.int64), self.n_bins - 1)
        self.counts += np.bincount(bins * len(Code) + codes, minlength=self.counts.size).reshape(
            self.counts.shape
        )

    def total(self, code: Code) -> int:
        return int(self.counts[:, code].sum())

    def outcome_totals(self) -> dict[str, int]:
        return {name: sum(self.total(c) for c in codes) for name, codes in OUTCOMES.items()}
