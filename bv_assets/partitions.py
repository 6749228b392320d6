"""Partitions: the site-day is the unit of work, storage and backfill.

Key `2024-10-14|ses_falls_city` (Dagster orders multi-partition dimensions by name).
Sites are dynamic partitions, registered from BV_SITES by a sensor or `bv materialize`,
so a new site needs no code change.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from bv_resources.settings import Settings

SITE_PARTITIONS_NAME = "site"

site_partitions = dg.DynamicPartitionsDefinition(name=SITE_PARTITIONS_NAME)


def daily_partitions(start_date: str) -> dg.DailyPartitionsDefinition:
    # end_offset=0: the newest partition is yesterday (UTC) — only closed days are archived.
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC", end_offset=0)


def site_day_partitions_for(start_date: str) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({"date": daily_partitions(start_date), "site": site_partitions})


site_day_partitions = site_day_partitions_for(Settings.from_env().start_date)


def site_day_key(site: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "site": site})


def _dimensions(partition_key: str | dg.MultiPartitionKey, time_dimension: str) -> dict[str, str]:
    """{time_dimension: ..., "site": ...} of a `<time>|<site>` key, whichever form Dagster hands us."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        return partition_key.keys_by_dimension
    time_part, _, site_part = str(partition_key).partition("|")
    return {time_dimension: time_part, "site": site_part}


def site_day_of(partition_key: str | dg.MultiPartitionKey) -> tuple[str, date]:
    """(site, day) of a site-day partition key."""
    dims = _dimensions(partition_key, "date")
    return dims["site"], date.fromisoformat(dims["date"])


MONTH_FORMAT = "%Y-%m"


def site_month_partitions_for(start_date: str) -> dg.MultiPartitionsDefinition:
    first_of_month = date.fromisoformat(start_date).strftime(MONTH_FORMAT)
    # end_offset=1: the current month exists (its closed days already have archives).
    months = dg.MonthlyPartitionsDefinition(start_date=first_of_month, fmt=MONTH_FORMAT, timezone="UTC", end_offset=1)
    return dg.MultiPartitionsDefinition({"month": months, "site": site_partitions})


site_month_partitions = site_month_partitions_for(Settings.from_env().start_date)


def site_month_of(partition_key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(site, "YYYY-MM") of a site-month partition key."""
    dims = _dimensions(partition_key, "month")
    return dims["site"], dims["month"]


def site_month_key(site: str, month: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"month": month, "site": site})
