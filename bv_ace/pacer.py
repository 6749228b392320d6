"""Request pacing for the ACE client: a concurrency cap plus an even request rate.

`RequestPacer(requests_per_minute, max_concurrency)` is thread-safe; one pacer belongs to
one client and is shared by every thread that uses that client:

    with pacer.slot():
        response = http.get(...)

`slot()` first takes one of `max_concurrency` slots, then waits for its turn in an evenly
spaced schedule (one request every 60/requests_per_minute seconds; no bursts). Turns are
handed out in order under a lock and the wait happens outside it, so waiting threads do
not block each other's bookkeeping. Cross-process limits are Dagster's job (the `ace_api`
pool); this keeps one process polite.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


class RequestPacer:
    def __init__(
        self,
        requests_per_minute: float,
        max_concurrency: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if requests_per_minute is None or not requests_per_minute > 0:
            raise ValueError(
                f"requests_per_minute must be > 0 (use math.inf for no limit), got {requests_per_minute!r}"
            )
        if int(max_concurrency) != max_concurrency or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be an integer >= 1, got {max_concurrency!r}")
        self.requests_per_minute = float(requests_per_minute)
        self.max_concurrency = int(max_concurrency)
        self.interval_s = 0.0 if math.isinf(self.requests_per_minute) else 60.0 / self.requests_per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(self.max_concurrency)
        self._next_at: float | None = None
        self._in_use = 0
        self.granted = 0
        self.waited_s = 0.0

    def __repr__(self) -> str:
        return (f"RequestPacer(requests_per_minute={self.requests_per_minute:g}, "
                f"max_concurrency={self.max_concurrency})")

    @property
    def in_use(self) -> int:
        """Slots currently held."""
        with self._lock:
            return self._in_use

    def _reserve_turn(self) -> float:
        """Book the next free start time; return how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            at = now if self._next_at is None else max(now, self._next_at)
            self._next_at = at + self.interval_s
            self.granted += 1
            wait = at - now
            self.waited_s += wait
            return wait

    @contextmanager
    def slot(self) -> Iterator[None]:
        self._slots.acquire()
        with self._lock:
            self._in_use += 1
        try:
            wait = self._reserve_turn()
            if wait > 0:
                self._sleep(wait)
            yield
        finally:
            with self._lock:
                self._in_use -= 1
            self._slots.release()
