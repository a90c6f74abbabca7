"""Wall-clock timing shared by the perf benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from perloc.bench.core import device


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call; on CUDA
    each call's queued work is waited for before the clock is read."""
    fn()
    device.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        device.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
