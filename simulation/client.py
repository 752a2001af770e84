"""The storefront clients in the simulator: a deadline per attempt, retries with the real jittered
backoff policy (`ordermesh.retry`), and the order's final outcome once the attempts run out."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Sequence

from simulation.cluster import ZONE_DOWN
from simulation.metrics import Code, Metrics
from simulation.scenario import Scenario

_GIVE_UP = {
    Code.ATTEMPT_TIMEOUT: Code.FAILED_DEADLINE,
    Code.ATTEMPT_ZONE_UNAVAILABLE: Code.FAILED_ZONE_UNAVAILABLE,
    Code.ATTEMPT_FENCED: Code.FAILED_FENCED,
}


class Clients:
    """Every storefront's retry loop at once: failed attempts become retries due after a backoff."""

    def __init__(
        self, scenario: Scenario, metrics: Metrics, rng: random.Random, fast_fail: Sequence[float]
    ) -> None:
        self.s, self.metrics, self.rng = scenario, metrics, rng
        self.fast_fail = fast_fail  # per combo: the round trip to the nearest region of its zone
        # A heap of (when, seq, first_sent, combo, attempt, hot); seq keeps equal times in push order.
        self.retries: list[tuple[float, int, float, int, int, int]] = []
        self._seq = 0

    def due(self, end: float) -> Iterator[tuple[float, float, int, int, int]]:
        """Pops the retries due before `end`: (when, first_sent, combo, attempt, hot)."""
        while self.retries and self.retries[0][0] < end:
            when, _, first, combo, attempt, hot = heapq.heappop(self.retries)
            yield when, first, combo, attempt, hot

    def timed_out(self, sent: float, first: float, combo: int, attempt: int, hot: int) -> None:
        """The attempt sent at `sent` got no answer: the client's deadline ends it."""
        self.attempt_failed(sent + self.s.deadline_s, first, combo, attempt, hot, Code.ATTEMPT_TIMEOUT)

    def refused(self, sent: float, first: float, combo: int, attempt: int, hot: int, code: int) -> None:
        """The router answered without serving: ZONE_UNAVAILABLE at once, FENCED after a region's reply."""
        kind = Code.ATTEMPT_ZONE_UNAVAILABLE if code == ZONE_DOWN else Code.ATTEMPT_FENCED
        at = sent if code == ZONE_DOWN else sent + self.fast_fail[combo]
        self.attempt_failed(at, first, combo, attempt, hot, kind)

    def attempt_failed(self, at: float, first: float, combo: int, attempt: int, hot: int, kind: Code) -> None:
        """The client learns at `at` that an attempt failed: back off and retry, or give up."""
        self.metrics.count(at, kind)
        if attempt < self.s.retry.max_attempts:
            self._seq += 1
            when = at + self.s.retry.delay(attempt, self.rng)
            heapq.heappush(self.retries, (when, self._seq, first, combo, attempt + 1, hot))
            return
        self.metrics.count(at, _GIVE_UP[kind])
