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
