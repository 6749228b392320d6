"""Live sync: append each site's newest samples to the live store for the open day(s).

One tick fetches [cursor - overlap, now) from ACE, types and dedupes it exactly like the
archive (same value rule), writes one Parquet part per UTC day it touches, and only then
moves the cursor. The cursor is the newest sample time seen, so a tick that got nothing
(ACE down, or late) leaves it in place and the next tick asks for the whole missed window:
an outage leaves no gap. Days already archived are skipped (the archive is authoritative):
only samples the archive lacks are kept, in a live part that release leaves in place. Each
day's part is written under the site-day lock (bv_store.site_day_lock), as are compaction
and release, so day close cannot release a day between a tick's check and its publish.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from bv_ace.client import AceClient
from bv_pipeline.archive_build import transform_raw_table
from bv_store.days import day_window
from bv_store.duckdb_conn import duckdb_connect
from bv_store.faults import crash_point
from bv_store.layout import archive_key, live_cursor_key, live_day_prefix, live_part_key, parse_live_part_key
from bv_store.publish import publish, publish_bytes
from bv_store.schemas import PARQUET_OPTIONS
from bv_store.site_day_lock import site_day_lock
from bv_store.storage import Storage, StorageNotFound

DEFAULT_OVERLAP = timedelta(minutes=10)
# A day's live parts are merged into one once there are more than this many (a 5-minute
# sync writes 288 a day; readers would otherwise open them all on every query).
COMPACT_ABOVE_PARTS = 12
# A fresh site (no cursor) starts at the beginning of the current UTC day.


class LiveSyncError(RuntimeError):
    """The tick failed; the cursor did not move. The message names the site."""


@dataclass
class SyncResult:
    site: str
    window_start: datetime
    window_end: datetime
    rows_fetched: int = 0
    rows_written: int = 0
    files: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    skipped_archived_days: list[str] = field(default_factory=list)
    kept_not_in_archive: int = 0  # samples of archived days the archive lacks, kept live
    newest_sample: datetime | None = None
    cursor_before: datetime | None = None
    cursor_after: datetime | None = None
    points_seen: int = 0
    configured_points: int = 0

    @property
    def lag_s(self) -> float | None:
        if self.newest_sample is None:
            return None
        return round((self.window_end - self.newest_sample).total_seconds(), 1)

    def metadata(self) -> dict:
        iso = lambda t: t.isoformat() if t else "none"  # noqa: E731
        return {
            "dagster/row_count": self.rows_written,
            "rows_fetched": self.rows_fetched,
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "window_minutes": round((self.window_end - self.window_start).total_seconds() / 60, 1),
            "newest_sample": iso(self.newest_sample),
            "lag_seconds": self.lag_s if self.lag_s is not None else -1,
            "cursor_before": iso(self.cursor_before),
            "cursor_after": iso(self.cursor_after),
            "points_seen": self.points_seen,
            "configured_points": self.configured_points,
            "files_written": len(self.files),
            "days": ", ".join(self.days),
            "skipped_archived_days": ", ".join(self.skipped_archived_days),
            "samples_not_in_archive_kept": self.kept_not_in_archive,
        }


def read_cursor(storage: Storage, site: str) -> datetime | None:
    try:
        state = orjson.loads(storage.read_bytes(live_cursor_key(site)))
    except StorageNotFound:
        return None
    return datetime.fromisoformat(state["synced_until"])


def write_cursor(storage: Storage, site: str, synced_until: datetime, now: datetime) -> None:
    body = {"synced_until": synced_until.isoformat(), "written_at": now.isoformat()}
    publish_bytes(storage, live_cursor_key(site), orjson.dumps(body))


def sync_window(cursor: datetime | None, now: datetime, overlap: timedelta) -> tuple[datetime, datetime]:
    if cursor is None:
        start = day_window(now.date())[0]
    else:
        start = min(cursor - overlap, now - overlap)
    return start, now


def sync_site(
    client: AceClient,
    storage: Storage,
    site: str,
    catalog_names: list[str],
    *,
    now: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    connect=duckdb_connect,
    log=None,
) -> SyncResult:
    """One live-sync tick for one site (the schedule's runs and `bv sync` both call this)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    if not catalog_names:
        raise LiveSyncError(f"live sync {site}: the point catalog has zero configured points; nothing can be synced")
    cursor = read_cursor(storage, site)
    start, end = sync_window(cursor, now, overlap)
    result = SyncResult(site, start, end, cursor_before=cursor, configured_points=len(catalog_names))
    batches = list(client.timeseries(site, start, end))
    raw = pa.Table.from_batches(batches) if batches else None
    result.rows_fetched = raw.num_rows if raw is not None else 0

    day = start.date()
    while day_window(day)[0] < end:
        # Under the site-day lock: the day cannot be archived and its live files released
        # between "is it archived?" and this part's publish (day close racing the last tick).
        with site_day_lock(storage, site, day, what=f"live sync {site}"):
            table = None
            if raw is not None:
                table, _dropped, _examples, _in_day = transform_raw_table(raw, catalog_names, day)
                lo, hi = max(start, day_window(day)[0]), min(end, day_window(day)[1])
                table = table.filter(
                    pa.compute.and_(
                        pa.compute.greater_equal(table.column("ts"), pa.scalar(lo, pa.timestamp("us", tz="UTC"))),
                        pa.compute.less(table.column("ts"), pa.scalar(hi, pa.timestamp("us", tz="UTC"))),
                    )
                )
            if storage.exists(archive_key(site, day)):
                result.skipped_archived_days.append(day.isoformat())
                # The archive is authoritative; samples it lacks (ACE got them after the close)
                # are still kept in a live part, never dropped (release counts and names them).
                table = _not_in_archive(storage, site, day, table, connect) if table is not None else None
                result.kept_not_in_archive += table.num_rows if table is not None else 0
            if table is not None and table.num_rows:
                result.files.append(_write_part(storage, site, day, table, end))
                result.rows_written += table.num_rows
                result.days.append(day.isoformat())
                newest = pa.compute.max(table.column("ts")).as_py()
                result.newest_sample = max(filter(None, [result.newest_sample, newest]))
                result.points_seen += len(pa.compute.unique(table.column("point")))
        day += timedelta(days=1)

    crash_point("live_sync.parts_published")
    for day_text in result.days:
        compact_live_day(storage, site, date.fromisoformat(day_text), connect=connect)
    crash_point("live_sync.before_cursor")

    # The cursor moves only after every part is published, and never backwards.
    if result.newest_sample is not None and (cursor is None or result.newest_sample > cursor):
        write_cursor(storage, site, result.newest_sample, now)
        result.cursor_after = result.newest_sample
    else:
        result.cursor_after = cursor
    if log:
        log.info(
            f"live sync {site}: {result.rows_written} samples in [{start:%Y-%m-%d %H:%M}, {end:%H:%M}) UTC, "
            f"lag {result.lag_s}s, {len(result.files)} files"
        )
    return result


def _not_in_archive(storage: Storage, site: str, day: date, table: pa.Table, connect) -> pa.Table:
    """The rows of `table` whose (point, ts, value) the day's archive does not hold."""
    if not table.num_rows:
        return table
    with connect(storage) as con:
        con.register("fetched", table)
        kept = con.execute(
            "SELECT f.* FROM fetched f ANTI JOIN (SELECT point::VARCHAR AS point, ts, value "
            "FROM read_parquet($archive, hive_partitioning=false)) a "
            "ON f.point = a.point AND f.ts = a.ts AND f.value IS NOT DISTINCT FROM a.value ORDER BY f.point, f.ts",
            {"archive": storage.uri(archive_key(site, day))},
        ).to_arrow_table()
    return kept.cast(table.schema)


def _write_part(storage: Storage, site: str, day: date, table: pa.Table, window_end: datetime) -> str:
    key = live_part_key(site, day, int(window_end.timestamp() * 1_000_000), uuid.uuid4().hex[:12])
    publish(storage, key, lambda path: pq.write_table(table, path, **PARQUET_OPTIONS),
            expect_rows=table.num_rows, what=f"live part {site} {day}")
    return key


def compact_live_day(
    storage: Storage, site: str, day: date, *, above: int = COMPACT_ABOVE_PARTS, connect=duckdb_connect
) -> int:
    """Merge a day's live parts into one (newest value per (point, ts), sorted); returns how
    many parts were merged. The merged file is published before the parts go, and is named
    after the newest part, so a reader always sees every sample once."""
    with site_day_lock(storage, site, day, what=f"live compaction {site}"):  # release waits
        return _compact_live_day(storage, site, day, above=above, connect=connect)


def _compact_live_day(storage: Storage, site: str, day: date, *, above: int, connect) -> int:
    keys = sorted(k for k in storage.list(live_day_prefix(site, day)) if parse_live_part_key(k))
    if len(keys) <= above:
        return 0
    window_end_us = parse_live_part_key(keys[-1]).window_end_us
    with connect(storage) as con:
        table = con.execute(
            "SELECT point::VARCHAR AS point, ts, arg_max(value, filename) AS value "
            "FROM read_parquet($parts, hive_partitioning=false, filename=true) GROUP BY ALL ORDER BY point, ts",
            {"parts": [storage.uri(k) for k in keys]},
        ).to_arrow_table()
    merged_key = live_part_key(site, day, window_end_us, "merged" + uuid.uuid4().hex[:6])
    publish(storage, merged_key, lambda path: pq.write_table(table, path, **PARQUET_OPTIONS),
            expect_rows=table.num_rows, what=f"live compaction {site} {day}")
    for key in keys:
        storage.delete(key)
        crash_point("live_compaction.mid_delete")
    return len(keys)


def release_live_day(storage: Storage, site: str, day: date, *, connect=duckdb_connect) -> dict:
    """Remove a closed day's live files once its archive holds every live sample with the same
    value (called after the archive's blocking checks passed). Anything the archive lacks or
    holds differently keeps the live files, and is counted and named."""
    # Under the site-day lock no live part of the day is written or compacted meanwhile, so
    # the files compared are exactly the files deleted.
    with site_day_lock(storage, site, day, what=f"live release {site}"):
        return _release_live_day(storage, site, day, connect=connect)


def _release_live_day(storage: Storage, site: str, day: date, *, connect) -> dict:
    keys = storage.list(live_day_prefix(site, day))
    if not keys:
        return {"live_files_removed": 0, "live_samples_not_in_archive": 0, "live_values_differing": 0,
                "kept": "no live data"}
    akey = archive_key(site, day)
    if not storage.exists(akey):
        return {"live_files_removed": 0, "live_samples_not_in_archive": -1, "live_values_differing": -1,
                "kept": "no archive file for this day (ACE had no data): live data kept"}
    with connect(storage) as con:
        missing, differing, example = con.execute(
            """WITH live AS (
                   SELECT point::VARCHAR AS point, ts, arg_max(value, filename) AS value
                   FROM read_parquet($live, hive_partitioning=false, filename=true) GROUP BY ALL),
               arch AS (SELECT point::VARCHAR AS point, ts, value FROM read_parquet($archive, hive_partitioning=false))
               SELECT count(*) FILTER (WHERE a.point IS NULL),
                      count(*) FILTER (WHERE a.point IS NOT NULL AND a.value IS DISTINCT FROM l.value),
                      min(l.point || ' @ ' || strftime(l.ts, '%Y-%m-%dT%H:%M:%S.%fZ'))
                        FILTER (WHERE a.point IS NULL OR a.value IS DISTINCT FROM l.value)
               FROM live l LEFT JOIN arch a USING (point, ts)""",
            {"live": [storage.uri(k) for k in keys], "archive": storage.uri(akey)},
        ).fetchone()
    outcome = {"live_files_removed": 0, "live_samples_not_in_archive": int(missing),
               "live_values_differing": int(differing)}
    if missing or differing:
        # Never delete samples the archive lacks or holds otherwise: they stay for an operator
        # to look at (queries already answer this day from the archive).
        outcome["kept"] = (f"{missing} live samples are not in the archive and {differing} differ in value "
                           f"(first: {example}): live files kept")
        return outcome
    crash_point("live_release.compared")
    for key in keys:
        storage.delete(key)
        crash_point("live_release.mid_delete")
    outcome.update(live_files_removed=len(keys), kept="")
    return outcome
