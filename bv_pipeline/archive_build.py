"""archived_site_day: raw-zone samples -> the verified, query-ready archive partition.

Keeps collect-enabled points only, types the values by the rule in `values.py`, keeps
samples inside the UTC day, stores each (point, ts) once (the last one ACE sent wins),
sorts by point then time, and writes zstd Parquet. The file is built on scratch, re-read
and row-counted, and only then published atomically: a reader never sees a partial file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bv_pipeline.archive_rows import RawScan
from bv_pipeline.memory import release_freed_memory
from bv_pipeline.shrink_guard import DEFAULT_MAX_SHRINK_RATIO, shrink_refusal
from bv_store.layout import archive_key, raw_key
from bv_store.point_index import POINT_INDEX_META, PointIndex, encode as encode_point_index, group_runs, point_bounds
from bv_store.publish import publish
from bv_store.catalog import catalog_version as version_of
from bv_store.schemas import ARCHIVE_CATALOG_META, ARCHIVE_PARTIAL_META, PARQUET_OPTIONS, ROW_GROUP_ROWS
from bv_store.storage import Storage


class ArchiveError(RuntimeError):
    """The archive partition could not be built; the message names site, day and cause."""


@dataclass
class ArchiveResult:
    site: str
    day: date
    uri: str
    raw_rows: int
    archived_rows: int
    file_bytes: int
    points: int
    dropped: dict[str, int] = field(default_factory=dict)
    unparseable_examples: list[str] = field(default_factory=list)
    first_ts: str | None = None
    last_ts: str | None = None
    no_data: bool = False
    previous_rows: int | None = None
    elapsed_s: float = 0.0
    catalog_version: str = ""

    def metadata(self) -> dict:
        meta = {
            "dagster/row_count": self.archived_rows,
            "path": self.uri,
            "bytes": self.file_bytes,
            "bytes_per_sample": round(self.file_bytes / self.archived_rows, 3) if self.archived_rows else 0.0,
            "raw_rows": self.raw_rows,
            "points": self.points,
            "first_ts": self.first_ts or "",
            "last_ts": self.last_ts or "",
            "ace_no_data": self.no_data,
            "catalog_version": self.catalog_version,
            "dropped_total": sum(self.dropped.values()),
            "elapsed_s": round(self.elapsed_s, 3),
        }
        meta.update({f"dropped_{k}": v for k, v in sorted(self.dropped.items())})
        if self.unparseable_examples:
            meta["unparseable_examples"] = ", ".join(repr(v) for v in self.unparseable_examples)
        if self.previous_rows is not None:
            meta["previous_rows"] = self.previous_rows
            # What a re-materialization (late-data re-check) changed.
            meta["rows_added_since_previous"] = self.archived_rows - self.previous_rows
        return meta


def _iso(us: int) -> str:
    return str(np.datetime64(int(us), "us")) + "Z"


def raw_pieces(raw) -> Iterator[pa.Table]:
    """The raw samples piece by piece: a table as is, a Parquet file a row group at a time
    (with dictionary-encoded strings, so a piece's distinct strings are parsed once)."""
    if isinstance(raw, pq.ParquetFile):
        for i in range(raw.metadata.num_row_groups):
            yield raw.read_row_group(i, columns=["name", "value", "time"])
    else:
        yield raw


def scan_raw(raw, catalog_names: list[str], day: date) -> RawScan:
    """`raw` (a RAW_SCHEMA table, or a ParquetFile opened with `read_dictionary`) through
    pass 1 of the transform; `catalog_names` sorted."""
    capacity = raw.metadata.num_rows if isinstance(raw, pq.ParquetFile) else raw.num_rows
    scan = RawScan(catalog_names, day, capacity=capacity)
    for piece in raw_pieces(raw):
        scan.add(piece)
    release_freed_memory()  # the pieces' temporaries, before the sort allocates the table
    return scan


def transform_raw_table(raw, catalog_names: list[str], day: date):
    """Pure transform: raw samples -> (archive table, dropped counts, unparseable examples,
    raw samples of any point timed inside the day).

    `raw` is a RAW_SCHEMA table or a `pq.ParquetFile` (read a row group at a time: the raw
    day is never decoded whole). `catalog_names` must be sorted; a point's rank in it is its
    sort position. Rules and memory: bv_pipeline.archive_rows.
    """
    scan = scan_raw(raw, catalog_names, day)
    table = scan.archive_table()
    return table, scan.dropped, scan.examples, scan.raw_in_day


def write_archive_file(
    table: pa.Table, path: Path, catalog_version: str | None = None, accepted_partial: bool = False
) -> None:
    meta = {}
    if catalog_version:
        meta[ARCHIVE_CATALOG_META] = catalog_version
    if accepted_partial:
        meta[ARCHIVE_PARTIAL_META] = "true"
    if meta:
        table = table.replace_schema_metadata(meta)
    # Null or unsorted points (never from the transform) get no index: the checks name them.
    indexed = table.num_rows > 0 and table.column("point").null_count == 0
    runs = []
    with pq.ParquetWriter(path, table.schema, **PARQUET_OPTIONS) as writer:
        for start in range(0, max(table.num_rows, 1), ROW_GROUP_ROWS):
            group = _own_points_only(table.slice(start, ROW_GROUP_ROWS))
            writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
            if indexed:
                runs.append(group_runs(group.column("point")))
                names = [name for name, _ in runs[-1]]
                indexed = all(a < b for a, b in zip(names, names[1:])) and (
                    len(runs) == 1 or runs[-2][-1][0] <= names[0])
        if indexed:
            # Where each point's rows are, so a reader skips the point column; added to the
            # Parquet footer only (a schema metadata key would be stored twice, once in ARROW:schema).
            writer.add_key_value_metadata({POINT_INDEX_META: encode_point_index(runs)})
    if indexed:
        _verify_point_index(path, runs)


def _verify_point_index(path: Path, runs: list[list[tuple[str, int]]]) -> None:
    """The written footer's index reads back as the runs of the groups written, and each line
    agrees with its group's row count and point statistics — as a reader will judge it."""
    footer = pq.read_metadata(path)
    index = PointIndex.from_metadata(footer.metadata, footer.num_row_groups)
    for rg in range(footer.num_row_groups):
        bounds = point_bounds(footer, rg)
        if (index is None or bounds is None or index.runs(rg) != runs[rg]
                or index.spans(rg, footer.row_group(rg).num_rows, *bounds) is None):
            raise ArchiveError(f"{path}: the point index written for row group {rg} does not read back as its runs")


def _own_points_only(group: pa.Table) -> pa.Table:
    """The row group's `point` dictionary cut to the catalog span its rows use.

    Arrow writes a DictionaryArray's whole dictionary into every row group: the full catalog
    (4,583 names, ~10 KB) 25 times a day, decoded again by every reader of each group. The
    rows are sorted by point and a point's index is its catalog rank, so one group's indices
    are one contiguous span.
    """
    column = group.column("point")
    if group.num_rows == 0 or not pa.types.is_dictionary(column.type):
        return group
    chunk = column.combine_chunks()
    indices = chunk.indices.to_numpy(zero_copy_only=False)
    low, high = int(indices.min()), int(indices.max())
    cut = pa.DictionaryArray.from_arrays(
        pa.array(indices - low, type=chunk.indices.type), chunk.dictionary.slice(low, high - low + 1)
    )
    return group.set_column(group.schema.get_field_index("point"), group.schema.field("point"), cut)


def _distinct_points(column: pa.ChunkedArray) -> int:
    """Distinct points of the archive column, chunk by chunk (no copy of the day's column)."""
    seen: set = set()
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary.take(pc.unique(chunk.indices))
        seen.update(pc.unique(chunk).to_pylist())
    return len(seen)


def build_archive(
    storage: Storage,
    site: str,
    day: date,
    catalog_names: list[str],
    *,
    max_shrink_ratio: float = DEFAULT_MAX_SHRINK_RATIO,
    accepted_partial: bool = False,
    log=None,
) -> ArchiveResult:
    """Rebuild the archive partition of (site, day) from its raw-zone file."""
    started = time.monotonic()
    rkey, akey = raw_key(site, day), archive_key(site, day)
    if not storage.exists(rkey):
        raise ArchiveError(
            f"archived_site_day {site} {day}: no raw file at {storage.uri(rkey)}; "
            "materialize raw_site_day for this partition first"
        )
    with storage.local_copy(rkey) as path:
        raw = pq.ParquetFile(path, read_dictionary=["name", "time", "value"])
        raw_rows = raw.metadata.num_rows
        table, dropped, examples, raw_in_day = transform_raw_table(raw, sorted(catalog_names), day)
        del raw
    result = ArchiveResult(
        site=site,
        day=day,
        uri=storage.uri(akey),
        raw_rows=raw_rows,
        archived_rows=table.num_rows,
        file_bytes=0,
        points=0,
        dropped=dropped,
        unparseable_examples=examples,
        # The raw window has a margin around the day: only samples inside it count as data.
        no_data=raw_in_day == 0,
    )
    previous_rows = None
    if storage.exists(akey):
        with storage.local_copy(akey) as path:
            previous_rows = pq.ParquetFile(path).metadata.num_rows
    result.previous_rows = previous_rows

    if result.no_data:
        if previous_rows:
            raise ArchiveError(
                f"archived_site_day {site} {day}: ACE reported no data for this day but the archive "
                f"holds {previous_rows} rows at {result.uri}; refusing to delete them"
            )
        # ACE had nothing for the day: no file at all rather than an empty one.
        result.elapsed_s = time.monotonic() - started
        return result
    refusal = shrink_refusal(
        f"archived_site_day {site} {day} at {result.uri}", previous_rows, table.num_rows, max_shrink_ratio
    )
    if refusal:
        raise ArchiveError(refusal)
    if table.num_rows == 0:
        raise ArchiveError(
            f"archived_site_day {site} {day}: {result.raw_rows} raw samples but none survived "
            f"(dropped: {', '.join(f'{k}={v}' for k, v in dropped.items() if v)}); "
            "nothing was written. Is the point catalog for this site right?"
        )

    result.catalog_version = version_of(catalog_names)
    done = publish(storage, akey, lambda path: write_archive_file(table, path, result.catalog_version, accepted_partial),
                   expect_rows=table.num_rows, what=f"archived_site_day {site} {day}")
    result.file_bytes = done.file_bytes
    span = pc.min_max(table.column("ts").cast(pa.int64()))
    result.points = _distinct_points(table.column("point"))
    result.first_ts, result.last_ts = _iso(span["min"].as_py()), _iso(span["max"].as_py())
    del table
    release_freed_memory()  # the day's table and sort buffers: the checks run next in this process
    result.elapsed_s = time.monotonic() - started
    if log is not None:
        log.info(
            f"archived_site_day {site} {day}: {result.archived_rows} rows of {result.raw_rows} raw, "
            f"{result.points} points, {result.file_bytes} bytes in {result.elapsed_s:.1f}s"
        )
    return result
