"""What every peer loads: the generated archive days, all of them or a stated subset."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import numpy as np
import pyarrow.parquet as pq


@dataclass(frozen=True)
class Query:
    """One request: points, [start, end) and interval ('raw', '1h' or '1d'; aggregate = avg)."""

    name: str
    points: tuple[str, ...]
    start: datetime
    end: datetime
    interval: str

    @property
    def start_us(self) -> int:
        return int(self.start.timestamp()) * 1_000_000

    @property
    def end_us(self) -> int:
        return int(self.end.timestamp()) * 1_000_000


@dataclass
class Subset:
    """Every point for `full_days`, plus each listed point for its [first, last] days.

    `None` as a Subset means the whole store. The subset must hold every sample a query
    touches (the benchmark checks its queries against it), so it never favours us."""

    full_days: set[date]
    point_days: dict[str, tuple[date, date]] = field(default_factory=dict)

    def describe(self, n_points: int) -> str:
        spans: dict[tuple[date, date], int] = {}
        for first, last in self.point_days.values():
            spans[(first, last)] = spans.get((first, last), 0) + 1
        parts = [f"all {n_points:,} points for {len(self.full_days)} days ({min(self.full_days)}..{max(self.full_days)})"]
        for (first, last), n in sorted(spans.items()):
            parts.append(f"{n} queried points for {(last - first).days + 1} days ({first}..{last})")
        return "; ".join(parts)

    def covers(self, q: Query, store_days) -> bool:
        """True when the subset holds every sample of the store that `q` touches."""
        days = set(store_days) & {datetime.fromtimestamp(us / 1e6, tz=timezone.utc).date()
                for us in range(q.start_us, q.end_us, 86_400_000_000)}
        for p in q.points:
            first, last = self.point_days.get(p, (None, None))
            for d in days:
                if d not in self.full_days and not (first and first <= d <= last):
                    return False
        return True


def day_arrays(year, day: date, subset: Subset | None):
    """(rank int32, ts µs int64, value float64) of one archive day, filtered by the subset."""
    t = pq.read_table(year.archive_path(day))
    point = t.column("point").combine_chunks()
    names = point.dictionary.to_pylist()
    if names != year.point_names:
        raise RuntimeError(f"archive {day}: its point dictionary is not the catalog's sorted names")
    rank = point.indices.to_numpy().astype(np.int32)
    ts = t.column("ts").combine_chunks().cast("int64").to_numpy()
    value = t.column("value").combine_chunks().to_numpy()
    if subset is not None and day not in subset.full_days:
        index = {n: i for i, n in enumerate(year.point_names)}
        wanted = [index[p] for p, (a, b) in subset.point_days.items() if a <= day <= b]
        keep = np.isin(rank, np.array(wanted, dtype=np.int32))
        rank, ts, value = rank[keep], ts[keep], value[keep]
    return rank, ts, value


def hourly(rank: np.ndarray, ts: np.ndarray, value: np.ndarray):
    """Per (point, UTC hour) count, sum, min, max, first, last of rows sorted by (rank, ts)."""
    hour = ts // 3_600_000_000 * 3_600_000_000
    if not len(rank):
        empty = np.empty(0)
        return (np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int64)) + (empty,) * 6
    change = np.r_[True, (rank[1:] != rank[:-1]) | (hour[1:] != hour[:-1])]
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], len(rank)]
    return (rank[starts], hour[starts], ends - starts, np.add.reduceat(value, starts),
            np.minimum.reduceat(value, starts), np.maximum.reduceat(value, starts), value[starts], value[ends - 1])
