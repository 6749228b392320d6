"""raw_site_day: stream one site's UTC day from ACE into a raw-zone Parquet file.

Pages become Arrow batches as they arrive and go straight to a Parquet writer on a local
scratch file, so memory stays flat however large the day is. Only a finished, re-read and
row-counted file is published (atomically) to storage: a failed fetch leaves nothing.
The raw zone keeps what ACE sent, as sent (value and time still strings), so the archive
can be rebuilt without calling the rate-limited API again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bv_ace.client import AceClient
from bv_ace.parallel import iterate_concurrently
from bv_pipeline.day_parts import split_window, trim_to_part
from bv_pipeline.memory import release_freed_memory
from bv_pipeline.shrink_guard import DEFAULT_MAX_SHRINK_RATIO, shrink_refusal
from bv_store.days import day_window
from bv_store.faults import crash_point
from bv_store.layout import raw_key
from bv_store.publish import publish
from bv_store.schemas import RAW_SCHEMA
from bv_store.storage import Storage


# ACE's window bounds are not documented (start inclusive? end exclusive?). Asking for a
# minute more on each side means a sample exactly at midnight is never lost whichever way
# a server reads them; the archive keeps only the day itself (the rest is counted as
# `dropped_outside_day`, and archived in the neighbouring day's partition).
WINDOW_MARGIN = timedelta(minutes=1)


class RawIngestError(RuntimeError):
    """The raw zone refused or failed to take a day; the message says which and why."""


@dataclass
class RawIngestResult:
    site: str
    day: date
    key: str
    uri: str
    samples: int
    file_bytes: int
    points_seen: int
    first_time: str | None
    last_time: str | None
    no_data: bool
    elapsed_s: float
    stream_stats: dict = field(default_factory=dict)
    window: tuple | None = None

    def metadata(self) -> dict:
        samples_per_s = self.samples / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return {
            "dagster/row_count": self.samples,
            "path": self.uri,
            "bytes": self.file_bytes,
            "points_seen": self.points_seen,
            "first_time": self.first_time or "",
            "last_time": self.last_time or "",
            "ace_no_data": self.no_data,
            "window": f"{self.window[0].isoformat()} .. {self.window[1].isoformat()}" if self.window else "",
            "ace_pages": int(self.stream_stats.get("pages", 0)),
            "ace_empty_pages": int(self.stream_stats.get("empty_pages", 0)),
            "ace_retries": int(self.stream_stats.get("retries", 0)),
            "ace_page_size": int(self.stream_stats.get("page_size", 0)),
            "ace_bytes_received": int(self.stream_stats.get("bytes_received", 0)),
            "ace_windows": int(self.stream_stats.get("windows", 1)),
            # Samples both neighbouring windows were sent at a cut; each was kept once.
            "ace_trimmed_at_cuts": int(self.stream_stats.get("trimmed_at_cuts", 0)),
            "elapsed_s": round(self.elapsed_s, 3),
            "samples_per_s": round(samples_per_s, 1),
        }


def _existing_rows(storage: Storage, key: str) -> int:
    if not storage.exists(key):
        return 0
    with storage.local_copy(key) as path:
        return pq.ParquetFile(path).metadata.num_rows


def merge_stream_stats(parts: list[dict]) -> dict:
    """The stats of a day's window streams as one (sums; the smallest page size any used)."""
    if len(parts) == 1:
        return dict(parts[0], windows=1)
    out = {k: sum(int(p.get(k, 0)) for p in parts)
           for k in ("pages", "empty_pages", "samples", "retries", "bytes_received")}
    out["page_size"] = min(int(p.get("page_size", 0)) for p in parts)
    out["no_data"] = all(p.get("no_data") for p in parts)
    out["elapsed_s"] = max(float(p.get("elapsed_s", 0.0)) for p in parts)
    out["windows"] = len(parts)
    return out


def ingest_site_day(
    client: AceClient,
    storage: Storage,
    site: str,
    day: date,
    *,
    page_size: int | None = None,
    max_shrink_ratio: float = DEFAULT_MAX_SHRINK_RATIO,
    log=None,
) -> RawIngestResult:
    """Fetch every sample ACE holds for `site` on UTC `day` into the raw zone.

    The window is fetched as the client's `parallel_windows` parts at once (see
    bv_pipeline.day_parts). The file holds each part's pages in the order ACE
    sent them, the parts taken in turn a page at a time (bv_ace.parallel), so the same
    answers make the same file. A (point, time) belongs to one part, so "the last sample
    sent wins" means the same as with one stream."""
    key = raw_key(site, day)
    day_start, day_end = day_window(day)
    start, end = day_start - WINDOW_MARGIN, day_end + WINDOW_MARGIN
    parts = split_window(start, end, client.parallel_windows)
    started = time.monotonic()
    names_seen: set[str] = set()
    first_of: dict[int, str] = {}
    last_of: dict[int, str] = {}
    samples = trimmed = 0
    stats: dict = {}

    def write(scratch) -> None:
        nonlocal samples, trimmed, stats
        streams = [client.timeseries(site, p.start, p.end, page_size=page_size) for p in parts]
        with pq.ParquetWriter(scratch, RAW_SCHEMA, compression="zstd", use_dictionary=True) as writer:
            for index, received in iterate_concurrently(streams):
                batch = trim_to_part(received, parts[index])
                trimmed += received.num_rows - batch.num_rows
                if batch.num_rows == 0:
                    continue
                writer.write_batch(batch)
                crash_point("raw.mid_stream")
                samples += batch.num_rows
                names_seen.update(pc.unique(batch.column("name")).to_pylist())
                times = batch.column("time")
                first_of.setdefault(index, times[0].as_py())
                last_of[index] = times[-1].as_py()
        stats = merge_stream_stats([stream.stats() for stream in streams])
        stats["trimmed_at_cuts"] = trimmed
        if stats.get("samples", samples) != samples + trimmed:
            raise RawIngestError(
                f"raw_site_day {site} {day}: the stream counted {stats.get('samples')} samples "
                f"but {samples} were written (and {trimmed} trimmed at window cuts)"
            )
        held = _existing_rows(storage, key)
        if samples == 0 and held:
            # ACE retention may have expired the day: never replace data with nothing.
            raise RawIngestError(
                f"raw_site_day {site} {day}: ACE now returns no data for this day but the raw "
                f"zone holds {held} samples at {storage.uri(key)}; refusing to overwrite them"
            )
        refusal = shrink_refusal(f"raw_site_day {site} {day} at {storage.uri(key)}", held, samples, max_shrink_ratio)
        if refusal:
            raise RawIngestError(refusal)

    # A zero-row file is published on purpose: it records that ACE had no data that day.
    done = publish(storage, key, write, expect_rows=lambda: samples, what=f"raw_site_day {site} {day}")
    release_freed_memory()  # the pages' buffers: the archive is built next, often in this process
    no_data = samples == 0
    # Parts are in time order: the day's first sample is in the first part that had any.
    first_time = first_of[min(first_of)] if first_of else None
    last_time = last_of[max(last_of)] if last_of else None
    file_bytes = done.file_bytes
    elapsed = time.monotonic() - started
    if log is not None:
        log.info(
            f"raw_site_day {site} {day}: {samples} samples, {len(names_seen)} points, "
            f"{stats.get('pages', 0)} pages ({len(parts)} windows at once) in {elapsed:.1f}s"
        )
    return RawIngestResult(
        site=site,
        day=day,
        key=key,
        uri=storage.uri(key),
        samples=samples,
        file_bytes=file_bytes,
        points_seen=len(names_seen),
        first_time=first_time,
        last_time=last_time,
        no_data=no_data,
        elapsed_s=elapsed,
        stream_stats=stats,
        window=(start, end),
    )
