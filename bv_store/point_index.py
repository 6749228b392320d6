"""The archive footer's point index: which points each row group holds, and how many rows each.

An archive file is sorted by point, then time. Its row groups' Parquet statistics say which
groups may hold a point, but not where in the group its rows are: without this index a
reader decodes the group's whole `point` column (32 Ki strings) to find one point's run. The
writer knows the runs already, so it records them in the file's key-value metadata
(`bv_point_index`), and a first read of a point decodes only `ts` and `value`.

Format (version 1): the text "1", then one line per row group, each a JSON array of
[shared, suffix, rows] triples in point order: the point name is the previous name of the
same line cut to `shared` characters plus `suffix` (front coding: names of one device share
long prefixes, so a site-day's index is ~15 bytes a point). A reader trusts a line only when
it agrees with the footer (rows add up to the group's, names ascend, first and last equal
the group's point statistics); the archive's `archive_schema_and_order` check compares the
whole index with the rows themselves.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa

POINT_INDEX_META = "bv_point_index"
VERSION = "1"


def group_runs(column) -> list[tuple[str, int]]:
    """[(point, rows)] of one row group's `point` column, in row order (a point may repeat
    when the column is not sorted; callers that need sorted runs check it)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if column.null_count:
        raise ValueError("the point column holds nulls")
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    idx = column.indices.to_numpy(zero_copy_only=False)
    if len(idx) == 0:
        return []
    starts = np.concatenate(([0], np.flatnonzero(idx[1:] != idx[:-1]) + 1))
    counts = np.diff(np.append(starts, len(idx)))
    names = column.dictionary.take(pa.array(idx[starts])).to_pylist()
    return list(zip(names, counts.tolist()))


def run_spans(runs: list[tuple[str, int]]) -> dict[str, tuple[int, int]]:
    """{point: (first row, end row)} of consecutive runs."""
    out, at = {}, 0
    for name, n in runs:
        out[name] = (at, at + n)
        at += n
    return out


def encode(groups: list[list[tuple[str, int]]]) -> str:
    """The metadata value for these row groups' runs."""
    lines = [VERSION]
    for runs in groups:
        triples, prev = [], ""
        for name, rows in runs:
            shared = len(os.path.commonprefix([prev, name]))
            triples.append([shared, name[shared:], int(rows)])
            prev = name
        lines.append(json.dumps(triples, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines)


class PointIndex:
    """A file's recorded runs, decoded a row group at a time."""

    __slots__ = ("_lines",)

    def __init__(self, lines: list[bytes]):
        self._lines = lines

    @classmethod
    def from_metadata(cls, kv: dict | None, num_row_groups: int) -> "PointIndex | None":
        """The index in a file's key-value metadata, or None (absent, another version, or not
        one line per row group)."""
        raw = (kv or {}).get(POINT_INDEX_META.encode())
        if raw is None:
            return None
        lines = raw.split(b"\n")
        if lines[0] != VERSION.encode() or len(lines) != num_row_groups + 1:
            return None
        return cls(lines[1:])

    def runs(self, rg: int) -> list[tuple[str, int]]:
        """[(point, rows)] recorded for row group `rg`, in row order; ValueError when the line
        is not a list of [shared, suffix, rows] triples."""
        try:
            triples = json.loads(self._lines[rg])
            out, prev = [], ""
            for shared, suffix, rows in triples:
                if type(shared) is not int or not 0 <= shared <= len(prev) or type(suffix) is not str:
                    raise ValueError(f"bad front coding {[shared, suffix]!r}")
                if type(rows) is not int or rows <= 0:
                    raise ValueError(f"a run without rows {rows!r}")
                name = prev[:shared] + suffix
                out.append((name, rows))
                prev = name
        except (TypeError, ValueError) as exc:
            raise ValueError(f"row group {rg}: the point index line is malformed ({exc})") from None
        return out

    def spans(self, rg: int, rows: int, low: str, high: str) -> dict[str, tuple[int, int]] | None:
        """{point: (first row, end row)} of row group `rg` when its recorded runs agree with the
        footer (`rows` in the group, point statistics `low`..`high`, names ascending); else None."""
        try:
            runs = self.runs(rg)
        except ValueError:
            return None
        names = [n for n, _ in runs]
        if (not runs or sum(r for _, r in runs) != rows or names[0] != low or names[-1] != high
                or any(a >= b for a, b in zip(names, names[1:]))):
            return None
        return run_spans(runs)

    def file_runs(self, num_row_groups: int) -> list[tuple[str, int, int]]:
        """[(point, first row, rows)] over the whole file, a point split across row groups
        joined into one run (ValueError when a line is malformed)."""
        out: list[list] = []
        at = 0
        for rg in range(num_row_groups):
            for name, n in self.runs(rg):
                if out and out[-1][0] == name and out[-1][1] + out[-1][2] == at:
                    out[-1][2] += n
                else:
                    out.append([name, at, n])
                at += n
        return [tuple(r) for r in out]


def point_bounds(footer, rg: int) -> tuple[str, str] | None:
    """(smallest, largest) point of row group `rg` from the footer's statistics, or None."""
    names = footer.schema.names
    if "point" not in names:
        return None
    stats = footer.row_group(rg).column(names.index("point")).statistics
    if stats is None or not stats.has_min_max:
        return None
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in (stats.min, stats.max))


def index_problem(footer, rows_runs: list[tuple[str, int, int]]) -> str | None:
    """Why a file's point index disagrees with its footer or its rows, or None when it agrees
    or is absent (files written before the index; readers decode the point column).
    `footer`: the file's pyarrow FileMetaData; `rows_runs`: the file's (point, first row,
    rows) in row order, found from the rows themselves."""
    kv = footer.metadata or {}
    if kv.get(POINT_INDEX_META.encode()) is None:
        return None
    groups = footer.num_row_groups
    index = PointIndex.from_metadata(kv, groups)
    if index is None:
        return f"the point index is not version {VERSION} with one line per row group ({groups})"
    try:
        recorded = index.file_runs(groups)
    except ValueError as exc:
        return f"the point index cannot be read: {exc}"
    for rg in range(groups):
        bounds = point_bounds(footer, rg)
        if bounds is None:
            return f"row group {rg} has no point statistics to hold the point index against"
        rows = footer.row_group(rg).num_rows
        if index.spans(rg, rows, *bounds) is None:
            return (f"the point index's line for row group {rg} disagrees with the footer ({rows} rows, "
                    f"points {bounds[0]!r}..{bounds[1]!r})")
    for said, found in zip(recorded, rows_runs):
        if said != found:
            return f"the point index records (point, first row, rows) {said} where the rows hold {found}"
    if len(recorded) != len(rows_runs):
        return f"the point index records {len(recorded)} point runs where the rows hold {len(rows_runs)}"
    return None
