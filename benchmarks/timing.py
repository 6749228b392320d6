"""The one timing rule of the query benchmark and its curves: a warm-up, then the median."""

from __future__ import annotations

import statistics
import time


def median_ms(fn, runs: int) -> tuple[float, object]:
    """Median wall milliseconds of `runs` calls after one warm-up call, and the last answer."""
    out = fn()  # warm-up
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), out
