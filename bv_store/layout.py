"""Where each dataset lives under the storage root (the public file layout), and the
parsers that read a key back. Every module that builds or reads a key goes through here.

    points/site=<s>/points.parquet                         the point catalog (current)
    points/site=<s>/versions/<version>.parquet             every catalog an archive was built from
    raw/site=<s>/date=<YYYY-MM-DD>/samples.parquet         what ACE sent for the UTC day
    archive/site=<s>/date=<YYYY-MM-DD>/data.parquet        the archive (public contract)
    rollup/hourly/site=<s>/month=<YYYY-MM>/data.parquet    hourly rollup of a site-month
    live/site=<s>/date=<YYYY-MM-DD>/part-<end µs>-<token>.parquet   live parts of an open day
    state/live_cursor/site=<s>/cursor.json                 the live-sync cursor
    health/site=<s>/date=<YYYY-MM-DD>/points.parquet       per-point health of an archived day

`archive/` is hive-partitioned so any engine reads it with
`read_parquet('<storage>/archive/**/*.parquet', hive_partitioning=true)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# Site names become a hive path segment (`site=<name>`): keep them to a safe alphabet.
SITE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

ARCHIVE_FILE = "data.parquet"
RAW_FILE = "samples.parquet"
POINTS_FILE = "points.parquet"
ROLLUP_FILE = "data.parquet"
LIVE_SUFFIX = ".parquet"
HEALTH_FILE = "points.parquet"


def validate_site_name(site: str) -> str:
    if not SITE_NAME_RE.match(site or ""):
        raise ValueError(
            f"invalid site name {site!r}: use letters, digits, '_', '.', '-' "
            "(it becomes the archive folder 'site=<name>')"
        )
    return site


def _site(site: str) -> str:
    return f"site={validate_site_name(site)}"


# --- builders -------------------------------------------------------------------------

def points_key(site: str) -> str:
    return f"points/{_site(site)}/{POINTS_FILE}"


def catalog_version_key(site: str, version: str) -> str:
    """Every catalog an archive was built from stays readable (the archive records its version)."""
    if not re.fullmatch(r"[0-9a-f]{16}", version or ""):
        raise ValueError(f"catalog version {version!r} is not 16 hex digits")
    return f"points/{_site(site)}/versions/{version}.parquet"


def raw_key(site: str, day: date) -> str:
    return f"raw/{_site(site)}/date={day.isoformat()}/{RAW_FILE}"


def archive_key(site: str, day: date) -> str:
    return f"archive/{_site(site)}/date={day.isoformat()}/{ARCHIVE_FILE}"


def archive_site_prefix(site: str) -> str:
    return f"archive/{_site(site)}/"


def rollup_key(site: str, month: str) -> str:
    return f"rollup/hourly/{_site(site)}/month={month}/{ROLLUP_FILE}"


def rollup_site_prefix(site: str) -> str:
    return f"rollup/hourly/{_site(site)}/"


# Live store: one small Parquet file per (site, UTC day, sync tick), same columns as the
# archive. A reader takes every file of a day and keeps one row per (point, ts); the file
# name starts with the tick's window end so the newest file sorts last.
def live_site_prefix(site: str) -> str:
    return f"live/{_site(site)}/"


def live_day_prefix(site: str, day: date) -> str:
    return f"live/{_site(site)}/date={day.isoformat()}/"


def live_part_key(site: str, day: date, window_end_us: int, token: str) -> str:
    if not token.isalnum():
        raise ValueError(f"live part token {token!r} must be letters and digits")
    return f"{live_day_prefix(site, day)}part-{window_end_us:017d}-{token}{LIVE_SUFFIX}"


def live_cursor_key(site: str) -> str:
    # Outside `live/` so removing a closed day's live data never touches the cursor.
    return f"state/live_cursor/{_site(site)}/cursor.json"


# Point health: one small file per archived site-day, next to the archive (its own dataset,
# so globs over `archive/**` never see it).
def health_key(site: str, day: date) -> str:
    return f"health/{_site(site)}/date={day.isoformat()}/{HEALTH_FILE}"


def health_site_prefix(site: str) -> str:
    return f"health/{_site(site)}/"


# --- parsers --------------------------------------------------------------------------

_SITE = r"site=(?P<site>[A-Za-z0-9][A-Za-z0-9_.-]{0,127})"
_DATE = r"date=(?P<date>\d{4}-\d{2}-\d{2})"
_RAW_RE = re.compile(rf"^raw/{_SITE}/{_DATE}/{re.escape(RAW_FILE)}$")
_ARCHIVE_RE = re.compile(rf"^archive/{_SITE}/{_DATE}/{re.escape(ARCHIVE_FILE)}$")
_ROLLUP_RE = re.compile(rf"^rollup/hourly/{_SITE}/month=(?P<month>\d{{4}}-\d{{2}})/{re.escape(ROLLUP_FILE)}$")
_LIVE_RE = re.compile(rf"^live/{_SITE}/{_DATE}/part-(?P<end_us>\d+)-(?P<token>[A-Za-z0-9]+){re.escape(LIVE_SUFFIX)}$")
_HEALTH_RE = re.compile(rf"^health/{_SITE}/{_DATE}/{re.escape(HEALTH_FILE)}$")
_ANY_SITE_RE = re.compile(rf"^[a-z_/]+?/{_SITE}/")


@dataclass(frozen=True)
class SiteDayKey:
    site: str
    day: date


@dataclass(frozen=True)
class SiteMonthKey:
    site: str
    month: str


@dataclass(frozen=True)
class LivePartKey:
    site: str
    day: date
    window_end_us: int
    token: str


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2025-02-30: shaped like a date, but no day; not one of our keys
        return None


def _site_day(regex: re.Pattern, key: str) -> SiteDayKey | None:
    m = regex.match(key)
    day = _day(m["date"]) if m else None
    return SiteDayKey(m["site"], day) if day else None


def parse_raw_key(key: str) -> SiteDayKey | None:
    """(site, day) of a raw-zone file key; None for any other key."""
    return _site_day(_RAW_RE, key)


def parse_archive_key(key: str) -> SiteDayKey | None:
    """(site, day) of an archive file key; None for any other key."""
    return _site_day(_ARCHIVE_RE, key)


def parse_health_key(key: str) -> SiteDayKey | None:
    """(site, day) of a point-health file key; None for any other key."""
    return _site_day(_HEALTH_RE, key)


def parse_rollup_key(key: str) -> SiteMonthKey | None:
    m = _ROLLUP_RE.match(key)
    return SiteMonthKey(m["site"], m["month"]) if m else None


def parse_live_part_key(key: str) -> LivePartKey | None:
    m = _LIVE_RE.match(key)
    day = _day(m["date"]) if m else None
    return LivePartKey(m["site"], day, int(m["end_us"]), m["token"]) if day else None


def site_of_key(key: str) -> str | None:
    """The site of any key under a `<dataset>/site=<s>/` folder."""
    m = _ANY_SITE_RE.match(key)
    return m["site"] if m else None
