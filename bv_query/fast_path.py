"""The common chart shapes answered from local files with numpy, with the same content as
the SQL in `sql.py`: raw samples of archived days, and UTC buckets (1min .. 1d, fill null)
over archived days and hourly rollups. Anything else — live days, other time zones, fills,
remote storage — is the general (DuckDB) path's; `answer` returns None for it.

Bucket semantics follow `sql.bucket_query`: every source row is a partial (count, sum, min,
max, first, last at a time), buckets combine partials, the grid holds every bucket of
[start, end) for every asked point that has data or is in the catalog, and an empty bucket
is null (0 for count). Rows come sorted by point, then time.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bv_query.direct import DirectReader, NotDirect
from bv_query.params import INTERVALS, QueryRequest
from bv_query.sources import SourcePlan

DAY_US = 86_400_000_000
EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()
RESULT_SCHEMA = pa.schema([("point", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("value", pa.float64())])
# The rollup columns each aggregate needs (partials: n, s, mn, mx, fv, lv).
ROLLUP_COLUMNS = {"avg": ("count", "sum"), "sum": ("sum",), "count": ("count",), "min": ("min",),
                  "max": ("max",), "first": ("first",), "last": ("last",)}


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def served(request: QueryRequest, plan: SourcePlan) -> bool:
    """Whether this request and plan take the direct path (the caller checks local storage)."""
    if plan.live:
        return False
    if request.interval == "raw":
        return True
    return getattr(request.tz, "key", None) == "UTC" and request.fill == "null" and request.interval in INTERVALS


def answer(reader: DirectReader, request: QueryRequest, plan: SourcePlan, grid_points) -> pa.Table | None:
    """The result table, or None when the direct path does not serve this shape."""
    if not served(request, plan):
        return None
    try:
        if request.interval == "raw":
            return raw(reader, request, plan)
        return buckets(reader, request, plan, grid_points)
    except NotDirect:
        return None


def _sorted_rows(rows: dict, path: str) -> dict:
    ts = rows["ts"]
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
        raise NotDirect(f"{path}: a point's times are not strictly increasing")
    return rows


def _point_column(names: list[str], counts: list[int]) -> pa.Array:
    """Each name repeated `count` times, as one string array built from its buffers."""
    encoded = [n.encode() for n in names]
    lengths = np.repeat(np.array([len(b) for b in encoded], dtype=np.int64), counts)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = b"".join(b * c for b, c in zip(encoded, counts))
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
    return pc.cast(pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(data)), pa.string())


def _table(names: list[str], counts: list[int], ts: list[np.ndarray], values: list[np.ndarray], mask=None) -> pa.Table:
    if not names or not sum(counts):
        return RESULT_SCHEMA.empty_table()
    ts_all = np.concatenate(ts) if len(ts) > 1 else ts[0]
    val_all = np.concatenate(values) if len(values) > 1 else values[0]
    return pa.Table.from_arrays(
        [_point_column(names, counts), pa.array(ts_all, pa.int64()).view(RESULT_SCHEMA.field("ts").type),
         pa.array(val_all, pa.float64(), mask=mask)],
        schema=RESULT_SCHEMA,
    )


def _archive_slice(reader: DirectReader, path: str, point: str, lo: int, hi: int):
    """(ts, value) of one point in one archive file inside [lo, hi) µs; None without rows."""
    rows = reader.point_rows(path, point, ("ts", "value"))
    if rows is None:
        return None
    ts = _sorted_rows(rows, path)["ts"]
    a, b = np.searchsorted(ts, lo, "left"), np.searchsorted(ts, hi, "left")
    return (ts[a:b], rows["value"][a:b]) if b > a else None


def raw(reader: DirectReader, request: QueryRequest, plan: SourcePlan) -> pa.Table:
    lo, hi = _us(request.start), _us(request.end)
    days = sorted(plan.archive)
    names, counts, ts_parts, val_parts = [], [], [], []
    for point in sorted(set(request.points)):
        n = 0
        for day in days:
            found = _archive_slice(reader, plan.archive[day], point, lo, hi)
            if found is not None:
                ts_parts.append(found[0])
                val_parts.append(found[1])
                n += len(found[0])
        if n:
            names.append(point)
            counts.append(n)
    return _table(names, counts, ts_parts, val_parts)


def _partials(reader: DirectReader, request: QueryRequest, plan: SourcePlan, point: str):
    """(ts, {partial: array}) of one point over the plan, in time order; None without rows."""
    agg = request.agg
    lo, hi = _us(request.start), _us(request.end)
    segments = []
    if plan.rollup_days:
        # Which days (since 1970) the rollups answer: a lookup table over their span.
        wanted = np.array(sorted(d.toordinal() - EPOCH_ORDINAL for d in plan.rollup_days), dtype=np.int64)
        lookup = np.zeros(int(wanted[-1] - wanted[0]) + 1, dtype=bool)
        lookup[wanted - wanted[0]] = True
        for path in plan.rollup_files:
            rows = reader.point_rows(path, point, ("hour",) + ROLLUP_COLUMNS[agg])
            if rows is None:
                continue
            hours = rows["hour"]
            if len(hours) > 1 and not (hours[1:] > hours[:-1]).all():
                raise NotDirect(f"{path}: a point's hours are not strictly increasing")
            days = hours // DAY_US - wanted[0]
            inside = (days >= 0) & (days < len(lookup))
            keep = inside & lookup[np.where(inside, days, 0)]
            if keep.all():
                segments.append((hours, {c: rows[c] for c in ROLLUP_COLUMNS[agg]}))
            elif keep.any():
                segments.append((hours[keep], {c: rows[c][keep] for c in ROLLUP_COLUMNS[agg]}))
    for day in sorted(plan.archive):
        found = _archive_slice(reader, plan.archive[day], point, lo, hi)
        if found is None:
            continue
        ts, value = found
        part = {c: (np.ones(len(ts), dtype=np.int64) if c == "count" else value) for c in ROLLUP_COLUMNS[agg]}
        segments.append((ts, part))
    if not segments:
        return None
    segments.sort(key=lambda s: int(s[0][0]))
    ts = np.concatenate([s[0] for s in segments])
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
        raise NotDirect(f"{point}: sources overlap in time")
    return ts, {c: np.concatenate([s[1][c] for s in segments]) for c in ROLLUP_COLUMNS[agg]}


MAX_SUM_CELLS = 4_000_000  # buckets x longest bucket for the in-order sums below


def _ordered_sums(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per bucket, the sum of its values added one after another in time order — what
    DuckDB's sum() does — not numpy's pairwise sum, whose last bits differ."""
    lengths = ends - starts
    longest = int(lengths.max())
    if longest == 1:
        return values[starts].astype(np.float64)
    if len(starts) * longest > MAX_SUM_CELLS:
        raise NotDirect("buckets too uneven for the in-order sum")
    grid = np.zeros((len(starts), longest))
    rows = np.repeat(np.arange(len(starts)), lengths)
    grid[rows, np.arange(len(values)) - np.repeat(starts, lengths)] = values
    return np.add.accumulate(grid, axis=1)[:, -1]  # accumulate is sequential; + 0.0 pads are exact


def _reduce(agg: str, parts: dict, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    if agg == "avg":
        return _ordered_sums(parts["sum"], starts, ends) / np.add.reduceat(parts["count"], starts)
    if agg == "sum":
        return _ordered_sums(parts["sum"], starts, ends)
    if agg == "count":
        return np.add.reduceat(parts["count"], starts).astype(np.float64)
    if agg == "min":
        return np.minimum.reduceat(parts["min"], starts)
    if agg == "max":
        return np.maximum.reduceat(parts["max"], starts)
    if agg == "first":
        return parts["first"][starts]
    return parts["last"][ends - 1]


def buckets(reader: DirectReader, request: QueryRequest, plan: SourcePlan, grid_points) -> pa.Table:
    width = INTERVALS[request.interval] * 1_000_000
    lo, hi = _us(request.start), _us(request.end)
    first, last = lo // width * width, (hi - 1) // width * width
    grid = np.arange(first, last + width, width, dtype=np.int64)
    found = {}
    for point in dict.fromkeys(request.points):
        got = _partials(reader, request, plan, point)
        if got is not None:
            found[point] = got
    names = sorted(set(found) | set(grid_points))
    ts_parts, val_parts, masks = [], [], []
    for point in names:
        values = np.zeros(len(grid)) if request.agg == "count" else np.full(len(grid), np.nan)
        empty = np.zeros(len(grid), dtype=bool) if request.agg == "count" else np.ones(len(grid), dtype=bool)
        if point in found:
            ts, parts = found[point]
            bucket = ts // width * width
            starts = np.concatenate(([0], np.flatnonzero(bucket[1:] != bucket[:-1]) + 1))
            ends = np.append(starts[1:], len(bucket))
            slots = (bucket[starts] - first) // width
            values[slots] = _reduce(request.agg, parts, starts, ends)
            empty[slots] = False
        ts_parts.append(grid)
        val_parts.append(values)
        masks.append(empty)
    if not names:
        return RESULT_SCHEMA.empty_table()
    mask = np.concatenate(masks)
    return _table(names, [len(grid)] * len(names), ts_parts, val_parts, mask=mask if mask.any() else None)
