"""The simulator's notion of "now": real time, or a frozen / shifted time set by a test.

The server serves only samples with time < clock.now(), so a test can move the clock
across a UTC day boundary and watch live sync pick up the new day.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


def as_utc(dt: datetime) -> datetime:
    """Aware UTC datetime; a naive datetime is taken as UTC (as the API does)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


class SimClock:
    """Real time by default; `SimClock(fixed=dt)` is frozen at `dt` until told otherwise."""

    def __init__(self, fixed: datetime | None = None):
        self._lock = threading.Lock()
        self._fixed = as_utc(fixed) if fixed is not None else None
        self._offset = timedelta(0)  # used in real-time mode by advance()

    def now(self) -> datetime:
        with self._lock:
            if self._fixed is not None:
                return self._fixed
            return datetime.now(timezone.utc) + self._offset

    @property
    def real_time(self) -> bool:
        return self._fixed is None

    def set(self, dt: datetime) -> None:
        """Freeze the clock at `dt`."""
        with self._lock:
            self._fixed = as_utc(dt)

    def advance(self, delta: timedelta | float) -> None:
        """Move the clock forward (a frozen clock stays frozen; real time gets an offset)."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        with self._lock:
            if self._fixed is not None:
                self._fixed += delta
            else:
                self._offset += delta

    def use_real_time(self) -> None:
        with self._lock:
            self._fixed = None
            self._offset = timedelta(0)

    def __repr__(self) -> str:
        return f"SimClock(real_time={self.real_time}, now={self.now().isoformat()})"
