"""A simulated region: its queue of orders, idle workers, health generation, busy time and service times."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import simpy

from simulation.scenario import Service

BLOCK = 16384  # service times are drawn this many at a time
# An order in flight: (arrive, first_sent, sent, combo, attempt, hot, one_way).
Order = tuple[float, float, float, int, int, int, float]


@dataclass
class RegionState:
    index: int
    name: str
    zone: str
    workers: int
    rng: np.random.Generator
    queue: deque[Order] = field(default_factory=deque)
    idle: list[simpy.Event] = field(default_factory=list)
    down: bool = False
    generation: int = 0  # raised when the region dies: a call that started before cannot commit
    busy_s: float = 0.0
    in_service: int = 0
    pending: list[Order] = field(default_factory=list)  # routed here, still on the network; by arrival
    pos: int = 0
    _samples: list[list[float]] = field(default_factory=lambda: [[], []])

    def wake(self, n: int) -> None:
        """Up to `n` idle workers look at the queue again."""
        for _ in range(min(n, len(self.idle))):
            self.idle.pop().succeed()

    def idle_now(self) -> bool:
        return not self.queue and self.in_service == 0 and self.pos >= len(self.pending)

    def service_time(self, service: Service, hot: int) -> float:
        """One order's time in a worker: app + commit + serialization-failure retries (40001)."""
        buf = self._samples[1 if hot else 0]
        if not buf:
            buf.extend(_sample_block(service, self.rng, bool(hot)).tolist())
        return buf.pop()


def _sample_block(svc: Service, rng: np.random.Generator, hot: bool) -> np.ndarray:
    p = svc.hot_conflict_probability if hot else svc.conflict_probability
    conflicts = rng.geometric(1.0 - p, BLOCK) - 1 if p > 0 else np.zeros(BLOCK, dtype=np.int64)
    commits = svc.db_commit.sample(rng, BLOCK)
    extra = svc.db_commit.sample(rng, BLOCK) * conflicts + svc.conflict_backoff_s * conflicts
    return np.asarray(svc.app.sample(rng, BLOCK) + commits + extra)
