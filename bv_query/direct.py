"""Direct reads of local archive and rollup files with pyarrow: the common chart shapes
without SQL text or DuckDB planning.

Archive and rollup files are sorted by point (then time). Each row group's Parquet statistics
give its smallest and largest point, read once per file from the footer: they say which row
groups hold a point. Where each point's rows start and stop inside a group comes from the
archive footer's point index (`bv_store.point_index`) when the file has one and it agrees
with the footer, else from the first decode of the group's own `point` column; either way it
is kept, so every read decodes only the columns asked for and slices them.

A point's decoded rows go to a bounded LRU (`BlockCache`), keyed by the file's path, size and
mtime, point and column: a rewritten file is never answered from an older decode. A file that
does not fit these expectations (no point statistics, unsorted points, nulls or NaN in a
value column) raises `NotDirect`, and the engine answers through DuckDB instead.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bv_query.cache import ByteLRU
from bv_store.point_index import PointIndex, group_runs, point_bounds, run_spans


class NotDirect(Exception):
    """This file or query is not served by the direct reader; use the general (DuckDB) path."""


# A point's decoded columns (numpy arrays): the same byte-bounded LRU as the point-day cache.
BlockCache = ByteLRU


class FileIndex:
    """One file's footer, its row groups' point bounds, and the point runs found so far."""

    __slots__ = ("path", "stamp", "metadata", "columns", "lows", "highs", "runs", "point_index", "footer_bytes")

    def __init__(self, path: str, stamp: tuple[int, int]):
        self.path, self.stamp = path, stamp
        self.metadata = pq.read_metadata(path)
        names = self.metadata.schema.names
        if "point" not in names:
            raise NotDirect(f"{path}: no point column")
        self.columns = {name: i for i, name in enumerate(names)}
        self.lows, self.highs = [], []
        for rg in range(self.metadata.num_row_groups):
            bounds = point_bounds(self.metadata, rg)
            if bounds is None:
                raise NotDirect(f"{path}: row group {rg} has no point statistics")
            self.lows.append(bounds[0])
            self.highs.append(bounds[1])
        if any(a > b for a, b in zip(self.highs, self.lows[1:])):
            raise NotDirect(f"{path}: row groups are not sorted by point")
        self.runs: dict[int, dict[str, tuple[int, int]]] = {}
        self.point_index = PointIndex.from_metadata(self.metadata.metadata, self.metadata.num_row_groups)
        # The footer is held twice (Arrow's and the index's lines): count both.
        self.footer_bytes = 2 * self.metadata.serialized_size

    def recorded_runs(self, rg: int) -> dict[str, tuple[int, int]] | None:
        """Row group `rg`'s runs from the footer's point index, when it has one that agrees."""
        if self.point_index is None:
            return None
        return self.point_index.spans(rg, self.metadata.row_group(rg).num_rows, self.lows[rg], self.highs[rg])

    def row_groups(self, point: str) -> list[int]:
        """Row groups whose [min, max] point range holds `point` (in file order)."""
        lo = _bisect_left(self.highs, point)
        out = []
        for rg in range(lo, len(self.lows)):
            if self.lows[rg] > point:
                break
            out.append(rg)
        return out


def _bisect_left(items: list[str], key: str) -> int:
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if items[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


class DirectReader:
    """Rows of given points from local, point-sorted Parquet files, as numpy arrays."""

    FOOTER_BUDGET_BYTES = 256 << 20  # footers kept, by their serialized size (a site-day's is ~170 KB)
    RECENT_GROUPS = 4  # decoded row groups kept whole, for the next points of the same group

    def __init__(self, cache: BlockCache):
        self.cache = cache
        self._files: OrderedDict[str, FileIndex] = OrderedDict()
        self._footer_bytes = 0
        # A dashboard asks for neighbouring points of one device: the same row group, one
        # after another. A few decoded groups are kept for them; a short ring, so their
        # memory is freed (and reused by the allocator) soon, unlike a cache that only grows.
        self._recent: OrderedDict[tuple, pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def file(self, path: str) -> FileIndex:
        st = os.stat(path)
        stamp = (st.st_size, st.st_mtime_ns)
        with self._lock:
            index = self._files.get(path)
            if index is not None and index.stamp == stamp:
                self._files.move_to_end(path)
                return index
        index = FileIndex(path, stamp)
        with self._lock:
            old = self._files.pop(path, None)
            if old is not None:
                self._footer_bytes -= old.footer_bytes
            self._files[path] = index
            self._footer_bytes += index.footer_bytes
            while self._footer_bytes > self.FOOTER_BUDGET_BYTES and len(self._files) > 1:
                self._footer_bytes -= self._files.popitem(last=False)[1].footer_bytes
        return index

    def point_rows(self, path: str, point: str, columns: tuple[str, ...]) -> dict[str, np.ndarray] | None:
        """{column: array} of the point's rows in the file (file order), or None when absent."""
        index = self.file(path)
        key = (index.path, index.stamp, point)
        if self.cache.enabled:
            cached = {c: self.cache.get(key + (c,)) for c in columns}
            if all(a is not None for a in cached.values()):
                return cached
        for c in columns:
            if c not in index.columns:
                raise NotDirect(f"{index.path}: no column {c!r}")
        parts = []
        for rg in index.row_groups(point):
            runs = index.runs.get(rg) or index.recorded_runs(rg)
            table = None
            if runs is None:  # no usable point index: the group's own point column says
                table = self._read(index, rg, ["point", *columns])
                runs = _runs(table.column("point"), index.path, rg)
            index.runs[rg] = runs
            span = runs.get(point)
            if span is None:
                continue
            if table is None:
                table = self._read(index, rg, list(columns))
            table = table.slice(span[0], span[1] - span[0])
            # Copies of the point's rows only: the decoded group is freed at once and its
            # memory reused by the next decode. Keeping whole groups made the allocator map
            # fresh memory for every new group, which cost more than the decode (measured).
            parts.append({c: _numpy(table.column(c), index.path, c) for c in columns})
        if not parts:
            return None
        out = parts[0] if len(parts) == 1 else {c: np.concatenate([p[c] for p in parts]) for c in columns}
        for c, array in out.items():
            array.flags.writeable = False
            if self.cache.enabled:
                self.cache.put(key + (c,), array)
        return out

    def _read(self, index: FileIndex, rg: int, columns: list[str]) -> pa.Table:
        key = (index.path, index.stamp, rg, tuple(columns))
        with self._lock:
            table = self._recent.get(key)
            if table is not None:
                self._recent.move_to_end(key)
                return table
        # pre_buffer off: one small row group read whole; the prefetch set-up cost more (measured).
        table = pq.ParquetFile(index.path, metadata=index.metadata, read_dictionary=["point"],
                               pre_buffer=False).read_row_group(rg, columns=columns, use_threads=False)
        with self._lock:
            self._recent[key] = table
            while len(self._recent) > self.RECENT_GROUPS:
                self._recent.popitem(last=False)
        return table


def _runs(column: pa.ChunkedArray, path: str, rg: int) -> dict[str, tuple[int, int]]:
    """{point: (first row, end row)} of a row group's point column, which must be sorted."""
    try:
        runs = group_runs(column)
    except ValueError:
        raise NotDirect(f"{path}: row group {rg} has null points") from None
    names = [n for n, _ in runs]
    if any(a >= b for a, b in zip(names, names[1:])):
        raise NotDirect(f"{path}: row group {rg} is not sorted by point")
    return run_spans(runs)


def _numpy(column: pa.ChunkedArray, path: str, name: str) -> np.ndarray:
    if column.null_count:
        raise NotDirect(f"{path}: column {name!r} has nulls")
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_timestamp(array.type):
        if array.type.unit != "us":
            array = array.cast(pa.timestamp("us", tz=array.type.tz))
        out = array.view(pa.int64()).to_numpy(zero_copy_only=False)
    else:
        out = array.to_numpy(zero_copy_only=False)
        if out.dtype.kind == "f" and not np.isfinite(out).all():
            raise NotDirect(f"{path}: column {name!r} has NaN or infinite values")
    return np.array(out, copy=True)  # own memory: the decoded group's buffers are freed
