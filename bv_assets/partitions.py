"""Partitions: the site-day is the unit of work, storage and backfill.

Key `2024-10-14|ses_falls_city` (Dagster orders multi-partition dimensions by name).
Sites are dynamic partitions, registered from the configured sites by `sites_sensor` or
`bv materialize`, so a new site needs no code change. The date dimensions start at
BV_START_DATE, so they are built from the settings, not at import.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

SITE_PARTITIONS_NAME = "site"
MONTH_FORMAT = "%Y-%m"

site_partitions = dg.DynamicPartitionsDefinition(name=SITE_PARTITIONS_NAME)


def daily_partitions(start_date: str) -> dg.DailyPartitionsDefinition:
    # end_offset=0: the newest partition is yesterday (UTC) — only closed days are archived.
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC", end_offset=0)


def site_day_partitions(start_date: str) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({"date": daily_partitions(start_date), "site": site_partitions})


def site_month_partitions(start_date: str) -> dg.MultiPartitionsDefinition:
    first_of_month = date.fromisoformat(start_date).strftime(MONTH_FORMAT)
    # end_offset=1: the current month exists (its closed days already have archives).
    months = dg.MonthlyPartitionsDefinition(start_date=first_of_month, fmt=MONTH_FORMAT, timezone="UTC", end_offset=1)
    return dg.MultiPartitionsDefinition({"month": months, "site": site_partitions})


def site_day_key(site: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "site": site})


def site_month_key(site: str, month: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"month": month, "site": site})


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


def site_month_of(partition_key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(site, "YYYY-MM") of a site-month partition key."""
    dims = _dimensions(partition_key, "month")
    return dims["site"], dims["month"]


# --- the registered sites (the `site` dimension's partitions) -------------------------

def registered_sites(instance: dg.DagsterInstance) -> list[str]:
    return sorted(instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))


def missing_sites(instance: dg.DagsterInstance, wanted: list[str]) -> list[str]:
    known = set(instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
    return [s for s in wanted if s not in known]


def register_sites(instance: dg.DagsterInstance, sites: list[str]) -> list[str]:
    """Add the sites that are not yet partitions; returns the ones added."""
    new = missing_sites(instance, sites)
    if new:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, new)
    return new


NO_SITES = "no site is registered yet (see sites_sensor)"
