"""Content equality of two query answers: row counts, timestamps exact, values to 1e-9 relative.

An answer is a table of (point, ts, value), ts as int64 microseconds since the epoch. Our
engine returns a bucket grid with NULL where a bucket has no sample; peers return only
buckets that have samples, so rows whose value is NULL are left out on both sides before
comparing (they carry no sample). `ts_precision_us` is the peer's time resolution: the
original Worker layout and the original SQLite hot tier store milliseconds, so our µs
timestamps are floored to ms for them; every other peer is compared to the µs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REL_TOL = 1e-9
# Averages of values that cancel (e.g. -0.4 and 0.4) differ by rounding noise around 0.
ABS_FLOOR = 1e-12


class ContentMismatch(AssertionError):
    """Two answers differ; the message names the query, the peer and the first differing row."""


@dataclass
class Answer:
    point: list
    ts_us: np.ndarray
    value: np.ndarray


def normalize(table: pa.Table, ts_precision_us: int = 1) -> Answer:
    """(point, ts µs, value) sorted by point then ts, NULL values dropped."""
    table = table.select(["point", "ts", "value"])
    table = table.filter(pc.is_valid(table.column("value")))
    ts = table.column("ts")
    if pa.types.is_timestamp(ts.type):
        ts = ts.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    ts = np.asarray(ts.to_numpy(), dtype=np.int64)
    if ts_precision_us > 1:
        ts = ts // ts_precision_us * ts_precision_us
    point = table.column("point").cast(pa.string()).to_pylist()
    value = np.asarray(table.column("value").to_numpy(), dtype=np.float64)
    order = sorted(range(len(point)), key=lambda i: (point[i], ts[i]))
    idx = np.array(order, dtype=np.int64)
    return Answer([point[i] for i in order], ts[idx] if len(idx) else ts, value[idx] if len(idx) else value)


def compare(query: str, peer: str, ours: pa.Table, theirs: pa.Table, ts_precision_us: int = 1) -> int:
    """Raise ContentMismatch on the first difference; return the row count compared."""
    a, b = normalize(ours, ts_precision_us), normalize(theirs, ts_precision_us)
    n = min(len(a.point), len(b.point))
    if n == 0 and len(a.point) == 0 and len(b.point) == 0:
        raise ContentMismatch(f"query {query} vs {peer}: both answers are empty (the query touched no data)")
    same_point = np.fromiter((x == y for x, y in zip(a.point[:n], b.point[:n])), dtype=bool, count=n)
    same_ts = a.ts_us[:n] == b.ts_us[:n]
    diff = np.abs(a.value[:n] - b.value[:n])
    scale = np.maximum(np.abs(a.value[:n]), np.abs(b.value[:n]))
    same_value = (a.value[:n] == b.value[:n]) | (diff <= np.maximum(REL_TOL * scale, ABS_FLOOR))
    bad = np.flatnonzero(~(same_point & same_ts & same_value))
    if len(bad):
        i = int(bad[0])
        raise ContentMismatch(
            f"query {query} vs {peer}: row {i} differs: ours ({a.point[i]}, {_iso(a.ts_us[i])}, {a.value[i]!r}) "
            f"vs {peer} ({b.point[i]}, {_iso(b.ts_us[i])}, {b.value[i]!r}); rows {len(a.point)} vs {len(b.point)}"
        )
    if len(a.point) != len(b.point):
        longer, who = (a, "ours") if len(a.point) > len(b.point) else (b, peer)
        raise ContentMismatch(
            f"query {query} vs {peer}: rows {len(a.point)} (ours) vs {len(b.point)} ({peer}); first row only in {who}: "
            f"({longer.point[n]}, {_iso(longer.ts_us[n])}, {longer.value[n]!r})"
        )
    return len(a.point)


def _iso(us) -> str:
    return str(np.datetime64(int(us), "us")) + "Z"


def answer_table(points, ts_us, values) -> pa.Table:
    """A peer's rows as the table `compare` takes."""
    return pa.table({"point": pa.array(list(points), pa.string()), "ts": pa.array(np.asarray(ts_us, dtype=np.int64)),
                     "value": pa.array(np.asarray(values, dtype=np.float64))})
