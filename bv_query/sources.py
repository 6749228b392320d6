"""Which files answer a query: per UTC day, the hourly rollup, the archive, the live store,
or nothing (a gap). Only that site's files for those days are listed or read — never a
glob over the whole archive.

Listings of the archive and rollup folders are cached for a few seconds (they change once
a day); the live folder is listed on every query so new samples show at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import orjson

from bv_store.days import day_window
from bv_store.layout import (
    archive_key,
    archive_site_prefix,
    live_day_prefix,
    live_site_prefix,
    parse_archive_key,
    parse_live_part_key,
    parse_rollup_key,
    points_key,
    rollup_key,
    rollup_site_prefix,
)
from bv_store.schemas import ROLLUP_DAYS_META
from bv_store.storage import LocalStorage, Storage


@dataclass
class SourcePlan:
    """Files per source, and the UTC days each source answers for."""

    archive: dict[date, str] = field(default_factory=dict)  # day -> uri
    live: dict[date, list[str]] = field(default_factory=dict)  # day -> uris, oldest first
    rollup_days: dict[date, str] = field(default_factory=dict)  # day -> rollup uri of its month
    missing: list[date] = field(default_factory=list)

    @property
    def rollup_files(self) -> list[str]:
        return sorted(set(self.rollup_days.values()))

    @property
    def files_read(self) -> int:
        return len(self.archive) + sum(len(v) for v in self.live.values()) + len(self.rollup_files)

    @property
    def source(self) -> str:
        stored = bool(self.archive or self.rollup_days)
        if stored and self.live:
            return "split"
        return "archive" if stored else ("live" if self.live else "none")


class _TtlCache:
    def __init__(self, ttl_s: float):
        self.ttl_s, self._items, self._lock = ttl_s, {}, threading.Lock()

    def get(self, key, load):
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit and now - hit[0] < self.ttl_s:
                return hit[1]
        value = load()
        with self._lock:
            self._items[key] = (now, value)
        return value

    def clear(self):
        with self._lock:
            self._items.clear()


class SourceIndex:
    """Finds the files for (site, days); caches what changes at most daily."""

    def __init__(self, storage: Storage, *, listing_ttl_s: float = 5.0):
        self.storage = storage
        self._listings = _TtlCache(listing_ttl_s)
        self._rollup_meta: dict[tuple[str, int], dict[str, int]] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._listings.clear()

    def archive_days(self, site: str) -> dict[date, int]:
        """day -> archive file size, for every archived day of the site."""

        def load():
            out = {}
            for key, size in self.storage.list_sizes(archive_site_prefix(site)).items():
                parsed = parse_archive_key(key)
                if parsed:
                    out[parsed.day] = size
            return out

        return self._listings.get(("archive", site), load)

    def rollup_months(self, site: str) -> dict[str, int]:
        def load():
            out = {}
            for key, size in self.storage.list_sizes(rollup_site_prefix(site)).items():
                parsed = parse_rollup_key(key)
                if parsed:
                    out[parsed.month] = size
            return out

        return self._listings.get(("rollup", site), load)

    def live_files(self, site: str, day: date) -> list[str]:
        keys = [k for k in self.storage.list(live_day_prefix(site, day)) if parse_live_part_key(k)]
        return [self.storage.uri(k) for k in sorted(keys)]

    def live_days(self, site: str) -> list[date]:
        days = set()
        for key in self.storage.list(live_site_prefix(site)):
            parsed = parse_live_part_key(key)
            if parsed:
                days.add(parsed.day)
        return sorted(days)

    def live_day_set(self, site: str) -> frozenset[date]:
        """The days with live parts, cached like the archive listing (one listing per TTL, not
        one per day of a long range)."""
        return self._listings.get(("live", site), lambda: frozenset(self.live_days(site)))

    def site_exists(self, site: str) -> bool:
        return bool(
            self.storage.exists(points_key(site)) or self.archive_days(site) or self.live_days(site)
        )

    def rollup_coverage(self, con, site: str, month: str, size: int) -> dict[str, int]:
        """The archive sizes the month's rollup was built from ({} when unreadable)."""
        cache_key = (rollup_key(site, month), size)
        with self._lock:
            if cache_key in self._rollup_meta:
                return self._rollup_meta[cache_key]
        uri = self.storage.uri(rollup_key(site, month))
        if isinstance(self.storage, LocalStorage):
            # The footer's key-value metadata, read by pyarrow: no SQL for a local file.
            import pyarrow.parquet as pq

            meta = pq.read_metadata(uri).metadata or {}
            raw = meta.get(ROLLUP_DAYS_META.encode())
            coverage = orjson.loads(raw) if raw else {}
        else:
            rows = con.execute(
                "SELECT value FROM parquet_kv_metadata(?) WHERE key = ?", [uri, ROLLUP_DAYS_META]
            ).fetchall()
            coverage = orjson.loads(rows[0][0]) if rows else {}
        with self._lock:
            self._rollup_meta[cache_key] = coverage
        return coverage

    def plan(self, con, site: str, start: datetime, end: datetime, *, use_rollup: bool) -> SourcePlan:
        """The files per day; `con` (a DuckDB connection) is used only to read the footers of
        rollups on remote storage, and may be None for local storage."""
        plan = SourcePlan()
        archived = self.archive_days(site)
        live_days = self.live_day_set(site)
        # A day before the newest archived day that is in neither listing has no data; only
        # later days can have been archived or gone live since the cached listings.
        newest_archived = max(archived, default=None)
        months = self.rollup_months(site) if use_rollup else {}
        # Per month, once: its rollup's coverage (by date) and URI (a year is 12 months).
        coverage_of: dict[str, dict[date, int]] = {}
        uri_of: dict[str, str] = {}
        day = start.astimezone(timezone.utc).date()
        day_start, day_end = day_window(day)
        one_day = timedelta(days=1)
        month_of = None
        while day_start < end:
            if month_of is None or day.day == 1:
                month_of = f"{day.year:04d}-{day.month:02d}"
            month = month_of
            if month in months and day in archived and start <= day_start and day_end <= end:
                if month not in coverage_of:
                    coverage_of[month] = self._coverage_by_date(con, site, month, months[month])
                    uri_of[month] = self.storage.uri(rollup_key(site, month))
                if coverage_of[month].get(day) == archived[day]:
                    plan.rollup_days[day] = uri_of[month]
                    day += one_day
                    day_start, day_end = day_end, day_end + one_day
                    continue
            if day in archived:
                plan.archive[day] = self.storage.uri(archive_key(site, day))
            elif day not in live_days and newest_archived is not None and day < newest_archived:
                plan.missing.append(day)
            else:
                files = self.live_files(site, day)
                if not files and self.storage.exists(archive_key(site, day)):
                    # Archived since our cached listing (day close): read the archive.
                    plan.archive[day] = self.storage.uri(archive_key(site, day))
                elif files:
                    plan.live[day] = files
                else:
                    plan.missing.append(day)
            day += one_day
            day_start, day_end = day_end, day_end + one_day
        return plan

    def _coverage_by_date(self, con, site: str, month: str, size: int) -> dict[date, int]:
        cache_key = ("by_date", rollup_key(site, month), size)
        with self._lock:
            if cache_key in self._rollup_meta:
                return self._rollup_meta[cache_key]
        by_date = {}
        for text, day_size in self.rollup_coverage(con, site, month, size).items():
            try:
                by_date[date.fromisoformat(text)] = day_size
            except (TypeError, ValueError):
                continue  # not a day name: never matches an archive day, as before
        with self._lock:
            self._rollup_meta[cache_key] = by_date
        return by_date
