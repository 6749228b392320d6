"""The raw -> archive rows transform, in two passes that never hold the whole raw day.

1. `RawScan.add(part)` takes the raw samples a piece at a time (a row group of the raw
   file): it types them by the rules in `values.py` and `timestamps.py` (parsing each
   piece's distinct strings only), counts every dropped sample under one reason, and keeps
   two numbers per surviving sample: a sort key (point rank << 37 | µs into the day) and the
   value, filed in one of a few buckets of consecutive point ranks.
2. `RawScan.archive_table()` sorts and dedupes the buckets one after another (each (point,
   ts) once, the last one ACE sent wins) and assembles the archive table.

Memory: 16 bytes per kept sample, plus one bucket's sort at a time and the table being
built, instead of the raw table and a dozen per-row arrays of the whole day. Each bucket
fills one buffer reserved at the day's raw row count: only the pages written become
resident, nothing is copied to grow it, and freeing it hands the memory back to the OS
(many small pieces would stay in the allocator's heap and pile up under the next step).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bv_pipeline.timestamps import BAD_TIME, parse_time_dictionary
from bv_pipeline.values import CATEGORY_NAMES, NULL, UNPARSEABLE, VALID, parse_value_dictionary
from bv_store.schemas import ARCHIVE_SCHEMA

DAY_US = 86_400 * 1_000_000
TS_BITS = 37  # µs into a day < 2**37
TS_MASK = (1 << TS_BITS) - 1
SORT_BUCKETS = 4  # buckets of point ranks sorted one at a time: a quarter of the day's sort memory
EXAMPLES = 5


def _dictionary_column(table, name: str) -> pa.DictionaryArray:
    """One dictionary-encoded array of a column (of a table or a record batch)."""
    column = table.column(name)
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    if isinstance(column, pa.ChunkedArray):
        column = column.unify_dictionaries()
        column = column.combine_chunks() if column.num_chunks else pa.chunked_array([], column.type).combine_chunks()
    return column


def _indices(column: pa.DictionaryArray, null_slot: int) -> np.ndarray:
    """Dictionary indices as int32, with null entries pointing at `null_slot`."""
    idx = column.indices
    if idx.null_count:
        idx = pc.fill_null(idx, null_slot)
    return idx.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


class _Column:
    """An append-only numpy column in one buffer reserved up front (grown by doubling if
    the reservation was short)."""

    def __init__(self, dtype, capacity: int):
        self._data = np.empty(max(int(capacity), 1), dtype)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)), self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size:end] = values
        self.size = end

    def take(self) -> np.ndarray:
        """The filled part; the column is empty afterwards (its buffer goes with the caller)."""
        data, self._data, self.size = self._data[: self.size], np.empty(0, self._data.dtype), 0
        return data


def empty_dropped() -> dict[str, int]:
    dropped = {"not_collected": 0, "outside_day": 0, "bad_time": 0, "duplicate": 0, "conflicting_duplicate": 0}
    dropped.update({name: 0 for name in CATEGORY_NAMES.values()})
    return dropped


class RawScan:
    """Pass 1 over one site-day's raw samples; `catalog_names` sorted (rank = sort position)."""

    def __init__(self, catalog_names: list[str], day: date, capacity: int = 0, buckets: int = SORT_BUCKETS):
        """`capacity`: the raw rows to come (an upper bound of the samples kept)."""
        self.catalog = pa.array(catalog_names, pa.string())
        self.start_us = int(np.datetime64(day, "us").astype(np.int64))
        self.buckets = max(1, min(buckets, len(catalog_names) or 1))
        self.dropped = empty_dropped()
        self.examples: list[str | None] = []
        self.raw_rows = 0
        self.raw_in_day = 0  # samples of any point timed inside the day
        self.kept_rows = 0  # before dedupe
        # Reserved, not touched: a bucket's pages become resident as it fills.
        self._keys = [_Column(np.int64, capacity) for _ in range(self.buckets)]
        self._values = [_Column(np.float64, capacity) for _ in range(self.buckets)]
        self.points = 0
        self.first_us: int | None = None
        self.last_us: int | None = None

    def add(self, part) -> None:
        """Type, filter and file one piece of raw samples (a Table or RecordBatch of RAW_SCHEMA)."""
        rows = part.num_rows
        if rows == 0:
            return
        self.raw_rows += rows
        names = _dictionary_column(part, "name")
        name_rank = pc.index_in(names.dictionary.cast(pa.string()), value_set=self.catalog)
        name_rank = np.append(name_rank.fill_null(-1).to_numpy().astype(np.int32), np.int32(-1))
        rank = name_rank[_indices(names, len(name_rank) - 1)]
        del names

        times = _dictionary_column(part, "time")
        ts_dict = np.append(parse_time_dictionary(times.dictionary), BAD_TIME)
        ts = ts_dict[_indices(times, len(ts_dict) - 1)]
        del times

        values = _dictionary_column(part, "value")
        parsed = parse_value_dictionary(values.dictionary)
        val_idx = _indices(values, len(parsed.values))
        self._note_examples(values.dictionary, parsed.categories)
        del values

        collected = rank >= 0
        self.dropped["not_collected"] += int(rows - collected.sum())
        good_time = ts != BAD_TIME
        self.dropped["bad_time"] += int((collected & ~good_time).sum())
        in_day = good_time & (ts >= self.start_us) & (ts < self.start_us + DAY_US)
        self.dropped["outside_day"] += int((collected & good_time & ~in_day).sum())
        self.raw_in_day += int(in_day.sum())
        keep = collected & in_day
        cats = np.append(parsed.categories, np.int8(NULL))[val_idx]  # null slot -> "null"
        for code, label in CATEGORY_NAMES.items():
            self.dropped[label] += int((keep & (cats == code)).sum())
        keep &= cats == VALID
        rank, ts, val_idx = rank[keep], ts[keep], val_idx[keep]
        self.kept_rows += len(rank)
        key = (rank.astype(np.int64) << TS_BITS) | (ts - self.start_us)
        vals = np.append(parsed.values, np.nan)[val_idx]
        if self.buckets == 1:
            self._keys[0].append(key)
            self._values[0].append(vals)
            return
        bucket = (rank.astype(np.int64) * self.buckets) // len(self.catalog)
        for b in range(self.buckets):
            mine = bucket == b
            self._keys[b].append(key[mine])
            self._values[b].append(vals[mine])

    def _note_examples(self, dictionary: pa.Array, categories: np.ndarray) -> None:
        if len(self.examples) >= EXAMPLES:
            return
        codes = np.flatnonzero(categories == UNPARSEABLE)
        if not len(codes):
            return
        for text in dictionary.take(pa.array(codes[: EXAMPLES * 2])).to_pylist():
            text = text if text is None else str(text)
            if text not in self.examples and len(self.examples) < EXAMPLES:
                self.examples.append(text)

    def _sorted_bucket(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Bucket b's keys and values sorted by key, one row per key (the last one sent)."""
        key, vals = self._keys[b].take(), self._values[b].take()
        # A stable sort keeps ACE's order among equal keys, so the last sample sent for a
        # (point, ts) is the last of its run.
        order = np.argsort(key, kind="stable")
        key, vals = key[order], vals[order]
        del order
        if len(key) > 1:
            same_as_next = key[:-1] == key[1:]
            if same_as_next.any():
                conflicting = int((same_as_next & (vals[:-1] != vals[1:])).sum())
                self.dropped["conflicting_duplicate"] += conflicting
                self.dropped["duplicate"] += int(same_as_next.sum()) - conflicting
                last_of_run = np.append(~same_as_next, True)
                key, vals = key[last_of_run], vals[last_of_run]
        return key, vals

    def archive_table(self) -> pa.Table:
        """Pass 2: the archive rows, sorted by point then ts (dedupe counts land in `dropped`)."""
        if self.raw_rows == 0:
            return ARCHIVE_SCHEMA.empty_table()
        point_chunks, ts_chunks, value_chunks = [], [], []
        for b in range(self.buckets):
            key, vals = self._sorted_bucket(b)
            if not len(key):
                continue
            ranks = (key >> TS_BITS).astype(np.int32)
            us = (key & TS_MASK) + self.start_us
            del key
            self.points += int(np.count_nonzero(ranks[1:] != ranks[:-1])) + 1
            self.first_us = int(us.min()) if self.first_us is None else min(self.first_us, int(us.min()))
            self.last_us = int(us.max()) if self.last_us is None else max(self.last_us, int(us.max()))
            point_chunks.append(pa.DictionaryArray.from_arrays(pa.array(ranks), self.catalog))
            ts_chunks.append(pa.array(us, pa.timestamp("us", tz="UTC")))
            value_chunks.append(pa.array(vals, pa.float64()))
        point_type = pa.dictionary(pa.int32(), pa.string())
        schema = pa.schema([("point", point_type), ARCHIVE_SCHEMA.field("ts"), ARCHIVE_SCHEMA.field("value")])
        if not point_chunks:
            return schema.empty_table()
        return pa.Table.from_arrays(
            [pa.chunked_array(point_chunks, point_type), pa.chunked_array(ts_chunks, schema.field("ts").type),
             pa.chunked_array(value_chunks, pa.float64())],
            schema=schema,
        )
