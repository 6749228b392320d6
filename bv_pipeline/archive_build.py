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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bv_pipeline.shrink_guard import DEFAULT_MAX_SHRINK_RATIO, shrink_refusal
from bv_pipeline.timestamps import BAD_TIME, parse_time_dictionary
from bv_pipeline.values import CATEGORY_NAMES, VALID, parse_value_dictionary
from bv_store.layout import archive_key, raw_key
from bv_store.publish import publish
from bv_store.catalog import catalog_version as version_of
from bv_store.schemas import ARCHIVE_CATALOG_META, ARCHIVE_PARTIAL_META, ARCHIVE_SCHEMA, PARQUET_OPTIONS, ROW_GROUP_ROWS
from bv_store.storage import Storage

DAY_US = 86_400 * 1_000_000


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


def _dictionary_column(table: pa.Table, name: str) -> pa.DictionaryArray:
    column = table.column(name)
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    column = column.unify_dictionaries() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.chunked_array([], column.type).combine_chunks()
    return column


def _indices(column: pa.DictionaryArray, null_slot: int) -> np.ndarray:
    """Dictionary indices as int32, with null entries pointing at `null_slot`."""
    idx = column.indices
    if idx.null_count:
        idx = pc.fill_null(idx, null_slot)
    return idx.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def _iso(us: int) -> str:
    return str(np.datetime64(int(us), "us")) + "Z"


def transform_raw_table(raw: pa.Table, catalog_names: list[str], day: date):
    """Pure transform: raw samples -> (archive table, dropped counts, unparseable examples,
    raw samples of any point timed inside the day).

    `catalog_names` must be sorted; a point's rank in it is its sort position.
    """
    dropped = {"not_collected": 0, "outside_day": 0, "bad_time": 0, "duplicate": 0, "conflicting_duplicate": 0}
    dropped.update({name: 0 for name in CATEGORY_NAMES.values()})
    if raw.num_rows == 0:
        return ARCHIVE_SCHEMA.empty_table(), dropped, [], 0

    names = _dictionary_column(raw, "name")
    times = _dictionary_column(raw, "time")
    values = _dictionary_column(raw, "value")
    # Memory matters here (a reference day is 6.6 M rows): per-row arrays are int32/int8
    # lookups into per-distinct-string tables, and each is dropped as soon as it is used.

    # Point rank per distinct name (-1: not collect-enabled); ranks follow the sorted catalog.
    catalog = pa.array(catalog_names, pa.string())
    name_rank = pc.index_in(names.dictionary.cast(pa.string()), value_set=catalog)
    name_rank = np.append(name_rank.fill_null(-1).to_numpy().astype(np.int32), np.int32(-1))
    rank = name_rank[_indices(names, len(name_rank) - 1)]
    del names

    ts_dict = np.append(parse_time_dictionary(times.dictionary), BAD_TIME)
    ts = ts_dict[_indices(times, len(ts_dict) - 1)]
    del times

    parsed = parse_value_dictionary(values.dictionary)
    val_idx = _indices(values, len(parsed.values))
    cat_dict = np.append(parsed.categories, np.int8(1))  # null slot -> "null"

    collected = rank >= 0
    dropped["not_collected"] = int((~collected).sum())
    good_time = ts != BAD_TIME
    dropped["bad_time"] = int((collected & ~good_time).sum())
    start_us = int(np.datetime64(day, "us").astype(np.int64))
    in_day = good_time & (ts >= start_us) & (ts < start_us + DAY_US)
    dropped["outside_day"] = int((collected & good_time & ~in_day).sum())
    raw_in_day = int(in_day.sum())
    keep = collected & in_day
    del collected, good_time, in_day
    cats = cat_dict[val_idx]
    for code, label in CATEGORY_NAMES.items():
        dropped[label] = int((keep & (cats == code)).sum())
    keep &= cats == VALID
    del cats
    examples = []
    unparseable_codes = np.flatnonzero(parsed.categories == 4)
    if len(unparseable_codes):
        examples = values.dictionary.take(pa.array(unparseable_codes[:5])).to_pylist()

    # One int64 sort key (rank, µs into the day): a stable radix sort keeps ACE's order
    # among equal keys, so the last sample sent for a (point, ts) is the one kept.
    key = (rank[keep].astype(np.int64) << 37) | (ts[keep] - start_us)
    del rank, ts
    val_idx = val_idx[keep]
    del keep
    order = np.argsort(key, kind="stable")
    key = key[order]
    val_idx = val_idx[order]
    del order
    vals = np.append(parsed.values, np.nan)[val_idx]
    del val_idx
    last_of_run = np.ones(len(key), dtype=bool)
    if len(key) > 1:
        same_as_next = key[:-1] == key[1:]
        last_of_run[:-1] = ~same_as_next
        dropped["conflicting_duplicate"] = int((same_as_next & (vals[:-1] != vals[1:])).sum())
        dropped["duplicate"] = int(same_as_next.sum()) - dropped["conflicting_duplicate"]
        del same_as_next
    if not last_of_run.all():
        key, vals = key[last_of_run], vals[last_of_run]
    del last_of_run

    point = pa.DictionaryArray.from_arrays(pa.array((key >> 37).astype(np.int32)), catalog)
    ts_out = pa.array((key & ((1 << 37) - 1)) + start_us, pa.timestamp("us", tz="UTC"))
    del key
    table = pa.Table.from_arrays(
        [point, ts_out, pa.array(vals, pa.float64())],
        schema=pa.schema([("point", point.type), ARCHIVE_SCHEMA.field("ts"), ARCHIVE_SCHEMA.field("value")]),
    )
    return table, dropped, [e if e is None else str(e) for e in examples], raw_in_day


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
    with pq.ParquetWriter(path, table.schema, **PARQUET_OPTIONS) as writer:
        for start in range(0, max(table.num_rows, 1), ROW_GROUP_ROWS):
            writer.write_table(_own_points_only(table.slice(start, ROW_GROUP_ROWS)), row_group_size=ROW_GROUP_ROWS)


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
        raw = pq.read_table(path, read_dictionary=["name", "time", "value"])
    table, dropped, examples, raw_in_day = transform_raw_table(raw, sorted(catalog_names), day)
    result = ArchiveResult(
        site=site,
        day=day,
        uri=storage.uri(akey),
        raw_rows=raw.num_rows,
        archived_rows=table.num_rows,
        file_bytes=0,
        points=0,
        dropped=dropped,
        unparseable_examples=examples,
        # The raw window has a margin around the day: only samples inside it count as data.
        no_data=raw_in_day == 0,
    )
    del raw
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
    ts = table.column("ts").combine_chunks().cast(pa.int64()).to_numpy()
    result.points = len(pc.unique(table.column("point").combine_chunks()))
    result.first_ts, result.last_ts = _iso(ts.min()), _iso(ts.max())
    result.elapsed_s = time.monotonic() - started
    if log is not None:
        log.info(
            f"archived_site_day {site} {day}: {result.archived_rows} rows of {result.raw_rows} raw, "
            f"{result.points} points, {result.file_bytes} bytes in {result.elapsed_s:.1f}s"
        )
    return result
