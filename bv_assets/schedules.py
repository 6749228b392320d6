"""Daily automation that needs no live store: closing yesterday, refreshing catalogs.

Day close runs after midnight UTC plus a grace period (late samples), one run per site
for yesterday's site-day. Both schedules ask for every registered site, so a site added
by `sites_sensor` is picked up on the next tick without a code change.
"""

import os
from datetime import datetime, timedelta, timezone

import dagster as dg

from bv_assets.jobs import live_sync_job, point_catalog_job, site_day_job
from bv_assets.maintenance import prune_raw_zone, raw_retention_days
from bv_assets.partitions import SITE_PARTITIONS_NAME, site_day_key
from bv_resources.storage import StorageResource

# Minutes after midnight UTC before a day is closed (late samples still arrive).
DAY_CLOSE_GRACE_MINUTES = int(os.environ.get("BV_DAY_CLOSE_GRACE_MINUTES", "30"))


NO_SITES = "no site is registered yet (see sites_sensor)"


def registered_sites(instance: dg.DagsterInstance) -> list[str]:
    return sorted(instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))


def day_close_requests(instance: dg.DagsterInstance, scheduled_for) -> list[dg.RunRequest]:
    day = (scheduled_for - timedelta(days=1)).date()
    return [
        dg.RunRequest(partition_key=str(site_day_key(site, day)), run_key=f"day-close-{day}-{site}")
        for site in registered_sites(instance)
    ]


@dg.schedule(
    job=site_day_job,
    cron_schedule=f"{DAY_CLOSE_GRACE_MINUTES % 60} {DAY_CLOSE_GRACE_MINUTES // 60} * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Close yesterday (UTC): raw_site_day + archived_site_day for every site, after a grace period.",
)
def day_close_schedule(context: dg.ScheduleEvaluationContext):
    requests = day_close_requests(context.instance, context.scheduled_execution_time)
    return requests or dg.SkipReason(NO_SITES)


@dg.schedule(
    job=point_catalog_job,
    cron_schedule="5 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh every site's point catalog daily; added/removed points show in the metadata.",
)
def catalog_refresh_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date()
    sites = registered_sites(context.instance)
    return [dg.RunRequest(partition_key=s, run_key=f"catalog-{day}-{s}") for s in sites] or dg.SkipReason(NO_SITES)


@dg.schedule(
    job=live_sync_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes, one live-sync run per registered site.",
)
def live_sync_schedule(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    sites = registered_sites(context.instance)
    return [
        dg.RunRequest(partition_key=s, run_key=f"live-{tick}-{s}", tags={"bv/live_site": s}) for s in sites
    ] or dg.SkipReason(NO_SITES)


LATE_DATA_DAYS = int(os.environ.get("BV_LATE_DATA_DAYS", "2"))


def late_data_requests(instance: dg.DagsterInstance, scheduled_for, days: int = LATE_DATA_DAYS) -> list[dg.RunRequest]:
    """Re-fetch and re-archive the N days before yesterday; the archive's metadata records
    how many rows changed (re-materialization is idempotent: unchanged data, same bytes)."""
    out = []
    for back in range(2, 2 + days):
        day = (scheduled_for - timedelta(days=back)).date()
        for site in registered_sites(instance):
            out.append(
                dg.RunRequest(
                    partition_key=str(site_day_key(site, day)),
                    run_key=f"late-data-{scheduled_for:%Y%m%d}-{day}-{site}",
                    tags={"bv/kind": "late_data_recheck"},
                )
            )
    return out


@dg.schedule(
    job=site_day_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily late-data re-check: re-archive the BV_LATE_DATA_DAYS (2) days before yesterday.",
)
def late_data_schedule(context: dg.ScheduleEvaluationContext):
    return late_data_requests(context.instance, context.scheduled_execution_time) or dg.SkipReason(NO_SITES)


@dg.op(description="Delete raw-zone files older than BV_RAW_RETENTION_DAYS (archive kept).")
def prune_raw_op(context: dg.OpExecutionContext, storage: StorageResource) -> None:
    keep = raw_retention_days()
    if keep is None:
        context.log.info("BV_RAW_RETENTION_DAYS is unset: the raw zone is kept")
        return
    deleted = prune_raw_zone(storage.get_storage(), keep, datetime.now(timezone.utc).date())
    context.log.info(f"raw retention {keep} days: deleted {len(deleted)} raw files")


@dg.job(description="Raw-zone retention (BV_RAW_RETENTION_DAYS).")
def raw_retention_job():
    prune_raw_op()


@dg.schedule(
    job=raw_retention_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily raw-zone retention (no-op unless BV_RAW_RETENTION_DAYS is set).",
)
def raw_retention_schedule(context: dg.ScheduleEvaluationContext):
    if raw_retention_days() is None:
        return dg.SkipReason("BV_RAW_RETENTION_DAYS is unset: raw zone kept")
    return dg.RunRequest(run_key=f"retention-{context.scheduled_execution_time:%Y%m%d}")
