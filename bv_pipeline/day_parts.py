"""Cutting a site-day's ACE window into parts that are fetched at the same time.

Each part is its own cursor stream (`bv_ace.parallel`). ACE's window bounds are not
documented (start inclusive? end exclusive?), so at each inner cut the two neighbouring
parts' requests overlap by CUT_OVERLAP, and each part keeps only the samples on its own
side of the cut: a sample exactly at a cut is fetched whichever way ACE reads the bounds,
and kept once. The outer bounds are the caller's (raw_ingest's day plus its margins),
untouched: one part asks exactly what a single stream would.

Only the overlap is trimmed: a sample ACE places elsewhere, even outside the part's own
window, is kept (ACE may misplace it; the neighbour may never have been sent it), and the
archive's (point, ts) dedupe removes any second copy: never a loss. Trimming reads only
the first and last time of a page unless the page reaches a cut (ACE sends ascending
times). A time that does not parse is kept where it came (the archive drops it as `bad_time`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from bv_pipeline.timestamps import BAD_TIME, datetime_us, parse_time_dictionary

CUT_OVERLAP = timedelta(seconds=1)  # ACE takes whole seconds (bv_ace.pages.format_api_time)
CUT_GRID = timedelta(minutes=1)  # cuts on whole minutes: readable windows in logs and errors


@dataclass(frozen=True)
class DayPart:
    """One part: the window asked of ACE, and the samples it keeps: [keep_from, keep_until),
    None meaning no bound on that side (the outer edges of the whole window)."""

    index: int
    start: datetime
    end: datetime
    keep_from: datetime | None = None
    keep_until: datetime | None = None

    @property
    def trims(self) -> bool:
        return self.keep_from is not None or self.keep_until is not None


def split_window(start: datetime, end: datetime, parts: int) -> list[DayPart]:
    """`parts` parts of [start, end), cut on whole UTC minutes (fewer when the window is
    too short for that many minutes)."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    span_minutes = int((end - start) // CUT_GRID)
    parts = max(1, min(parts, span_minutes))
    if parts == 1:
        return [DayPart(0, start, end)]
    step = (end - start) / parts
    cuts = [_floor_minute(start + step * i) for i in range(1, parts)]
    edges = [start, *cuts, end]
    out = []
    for i in range(parts):
        first, last = i == 0, i == parts - 1
        out.append(DayPart(
            index=i,
            start=edges[i] if first else edges[i] - CUT_OVERLAP,
            end=edges[i + 1] if last else edges[i + 1] + CUT_OVERLAP,
            keep_from=None if first else edges[i],
            keep_until=None if last else edges[i + 1],
        ))
    return out


def _floor_minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


def _us(dt: datetime | None) -> int | None:
    return None if dt is None else datetime_us(dt)


def trim_to_part(batch: pa.RecordBatch, part: DayPart) -> pa.RecordBatch:
    """The rows of `batch` (RAW_SCHEMA) less those in the overlap its neighbour also asked
    for and keeps: [start, keep_from) and [keep_until, end]. A sample ACE places anywhere
    else — even outside this part's window — is kept: the overlap is the only place a
    neighbour is sure to have it, and the archive's (point, ts) dedupe removes a copy."""
    if not part.trims or batch.num_rows == 0:
        return batch
    lo, hi = _us(part.keep_from), _us(part.keep_until)
    times = batch.column("time")
    ends = parse_time_dictionary(pa.array([times[0].as_py(), times[-1].as_py()], pa.string()))
    if BAD_TIME not in ends and (lo is None or ends[0] >= lo) and (hi is None or ends[1] < hi):
        return batch  # the usual page: wholly inside the part
    encoded = times.dictionary_encode()
    us = np.append(parse_time_dictionary(encoded.dictionary), BAD_TIME)
    idx = encoded.indices.fill_null(len(us) - 1).to_numpy(zero_copy_only=False)
    row_us = us[idx]
    overlap = np.zeros(len(row_us), dtype=bool)
    if lo is not None:
        overlap |= (row_us >= _us(part.start)) & (row_us < lo)
    if hi is not None:
        overlap |= (row_us >= hi) & (row_us <= _us(part.end))
    overlap &= row_us != BAD_TIME
    return batch if not overlap.any() else batch.filter(pa.array(~overlap))
