"""Process pools for parallel seeds and planner cases, started with `spawn`, never `fork`.

Forking a process that already runs gRPC (or any library with its own threads) copies locks
held by threads that do not exist in the child; the child can then crash or hang (seen here as a
segfault in the planner under the test suite). `spawn` starts clean interpreters instead.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def process_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
