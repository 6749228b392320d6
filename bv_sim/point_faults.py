"""Point faults at known times: sensors that misbehave the way real ones do, so a test knows
the truth of what point health must find.

    spec = demo_office()
    spec.faults = {
        "8000:33-8033/analogInput/1": [PointFault.stuck("2025-06-03T08:00")],          # path after <client>/<site>/
        "8000:34-8034/analogInput/1": [PointFault.dead("2025-06-03", "2025-06-04")],
        "8000:35-8035/analogInput/1": [PointFault.out_of_range("2025-06-03T10:00", "2025-06-03T12:00", 250.0)],
        "192.168.1.5/n4/AHU 2/Mixed Air Temp": [PointFault.spikes(["2025-06-03T09:15", "2025-06-03T13:40"])],
    }
    SimServer(sites=[spec, demo_school()])

(`PointSpec(faults=[...])` works as well.) A fault applies to samples with start <= time < end
(None: unbounded); times are UTC (ISO text or aware datetimes).

- stuck: every sample sends `value` (default: the point's own value at `start`).
- dead: no sample at all (the samples disappear from every endpoint, paging stays consistent).
- out_of_range: every sample sends `value` (default 250.0, e.g. a °F sensor off its scale).
- spikes: at each listed time, the sample of the point's scrape slot holding it (slots are
  multiples of its interval since the epoch; every slot holds exactly one sample) sends its
  value + `size` (default 50.0): one isolated spike per listed time. A change-of-value point
  spikes every sample inside the listed UTC minute.

A point without faults is served exactly as before: the default sites do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

KINDS = ("stuck", "dead", "out_of_range", "spikes")
MINUTE_US = 60_000_000
_NO_END = np.iinfo(np.int64).max
_NO_START = np.iinfo(np.int64).min


def time_us(value) -> int:
    """µs since the epoch of an ISO text (naive = UTC), a date-only text or a datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class PointFault:
    kind: str
    start: str | datetime | None = None
    end: str | datetime | None = None
    value: float | None = None
    at: tuple = ()  # spikes: the UTC minutes whose sample is spiked
    size: float = 50.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown point fault {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind == "spikes" and not self.at:
            raise ValueError("a spikes fault needs `at`: the minutes to spike")
        object.__setattr__(self, "at", tuple(self.at))

    # -- constructors ---------------------------------------------------------------
    @classmethod
    def stuck(cls, start, value: float | None = None, end=None) -> "PointFault":
        return cls("stuck", start, end, value)

    @classmethod
    def dead(cls, start=None, end=None) -> "PointFault":
        return cls("dead", start, end)

    @classmethod
    def out_of_range(cls, start=None, end=None, value: float = 250.0) -> "PointFault":
        return cls("out_of_range", start, end, value)

    @classmethod
    def spikes(cls, at, size: float = 50.0) -> "PointFault":
        return cls("spikes", at=tuple(at), size=size)

    # -- times ----------------------------------------------------------------------
    @property
    def start_us(self) -> int:
        return _NO_START if self.start is None else time_us(self.start)

    @property
    def end_us(self) -> int:
        return _NO_END if self.end is None else time_us(self.end)


def dead_windows(faults_by_point: dict[int, list[PointFault]]) -> dict[int, list[tuple[int, int]]]:
    """point index -> [start µs, end µs) windows without samples."""
    out: dict[int, list[tuple[int, int]]] = {}
    for i, faults in faults_by_point.items():
        for f in faults:
            if f.kind == "dead":
                out.setdefault(i, []).append((f.start_us, f.end_us))
    return out


def drop_dead(pid: np.ndarray, t: np.ndarray, windows: dict[int, list[tuple[int, int]]]):
    """(pid, t) without the samples of dead windows (order kept)."""
    if not windows or not len(pid):
        return pid, t
    drop = np.zeros(len(pid), dtype=bool)
    for i, spans in windows.items():
        mine = pid == i
        if not mine.any():
            continue
        for start, end in spans:
            drop |= mine & (t >= start) & (t < end)
    return (pid[~drop], t[~drop]) if drop.any() else (pid, t)
