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
from bv_store.storage import Storage


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
        rows = con.execute(
            "SELECT value FROM parquet_kv_metadata(?) WHERE key = ?", [uri, ROLLUP_DAYS_META]
        ).fetchall()
        coverage = orjson.loads(rows[0][0]) if rows else {}
        with self._lock:
            self._rollup_meta[cache_key] = coverage
        return coverage

    def plan(self, con, site: str, start: datetime, end: datetime, *, use_rollup: bool) -> SourcePlan:
        plan = SourcePlan()
        archived = self.archive_days(site)
        months = self.rollup_months(site) if use_rollup else {}
        # Per month, once: its rollup's coverage and URI (a year is 365 days but 12 months).
        coverage_of: dict[str, dict[str, int]] = {}
        uri_of: dict[str, str] = {}
        day = start.astimezone(timezone.utc).date()
        day_start, day_end = day_window(day)
        while day_start < end:
            whole_day = start <= day_start and day_end <= end
            month = f"{day.year:04d}-{day.month:02d}"
            if day in archived and whole_day and month in months:
                if month not in coverage_of:
                    coverage_of[month] = self.rollup_coverage(con, site, month, months[month])
                    uri_of[month] = self.storage.uri(rollup_key(site, month))
                if coverage_of[month].get(day.isoformat()) == archived[day]:
                    plan.rollup_days[day] = uri_of[month]
                    day += timedelta(days=1)
                    day_start, day_end = day_end, day_end + timedelta(days=1)
                    continue
            if day in archived:
                plan.archive[day] = self.storage.uri(archive_key(site, day))
            else:
                files = self.live_files(site, day)
                if not files and self.storage.exists(archive_key(site, day)):
                    # Archived since our cached listing (day close): read the archive.
                    plan.archive[day] = self.storage.uri(archive_key(site, day))
                elif files:
                    plan.live[day] = files
                else:
                    plan.missing.append(day)
            day += timedelta(days=1)
            day_start, day_end = day_end, day_end + timedelta(days=1)
        return plan
