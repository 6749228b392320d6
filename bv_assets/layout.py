"""Where each dataset lives under the storage root: the public file layout.

`archive/site=<site>/date=<YYYY-MM-DD>/data.parquet` is hive-partitioned so any engine
reads it with `read_parquet('<storage>/archive/**/*.parquet', hive_partitioning=true)`.
"""

from __future__ import annotations

from datetime import date

from bv_resources.settings import validate_site_name

ARCHIVE_FILE = "data.parquet"
RAW_FILE = "samples.parquet"
POINTS_FILE = "points.parquet"


def raw_key(site: str, day: date) -> str:
    return f"raw/site={validate_site_name(site)}/date={day.isoformat()}/{RAW_FILE}"


def archive_key(site: str, day: date) -> str:
    return f"archive/site={validate_site_name(site)}/date={day.isoformat()}/{ARCHIVE_FILE}"


def archive_site_prefix(site: str) -> str:
    return f"archive/site={validate_site_name(site)}/"


def points_key(site: str) -> str:
    return f"points/site={validate_site_name(site)}/{POINTS_FILE}"


# Live store: one small Parquet file per (site, UTC day, sync tick), same columns as the
# archive. A reader takes every file of a day and keeps one row per (point, ts); the file
# name starts with the tick's window end so the newest file sorts last.
LIVE_SUFFIX = ".parquet"


def live_day_prefix(site: str, day: date) -> str:
    return f"live/site={validate_site_name(site)}/date={day.isoformat()}/"


def live_site_prefix(site: str) -> str:
    return f"live/site={validate_site_name(site)}/"


def live_part_key(site: str, day: date, window_end_us: int, token: str) -> str:
    return f"{live_day_prefix(site, day)}part-{window_end_us:017d}-{token}{LIVE_SUFFIX}"


def live_cursor_key(site: str) -> str:
    # Outside `live/` so removing a closed day's live data never touches the cursor.
    return f"state/live_cursor/site={validate_site_name(site)}/cursor.json"


# Hourly rollups, one file per site-month, so a year of a point is 12 small reads.
ROLLUP_FILE = "data.parquet"


def rollup_key(site: str, month: str) -> str:
    return f"rollup/hourly/site={validate_site_name(site)}/month={month}/{ROLLUP_FILE}"


def rollup_site_prefix(site: str) -> str:
    return f"rollup/hourly/site={validate_site_name(site)}/"
