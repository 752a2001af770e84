"""Retry policy: bounded attempts with capped, fully jittered exponential backoff (pure; rng injected)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 0.002
    max_delay_s: float = 0.25

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Sleep before attempt number `attempt + 1` (attempt counts from 1): full jitter (AWS style)."""
        # The exponent is clamped: the cap is reached long before, and 2**1100 would not fit a float.
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** min(max(attempt - 1, 0), 1000))
        return rng.uniform(0.0, ceiling)

    def should_retry(self, attempt: int) -> bool:
        return attempt < self.max_attempts
