"""Daily automation that needs no live store: closing yesterday, refreshing catalogs.

Day close runs after midnight UTC plus a grace period (late samples), one run per site
for yesterday's site-day. Both schedules ask for every registered site, so a site added
by `sites_sensor` is picked up on the next tick without a code change.
"""

import os
from datetime import timedelta

import dagster as dg

from bv_assets.jobs import point_catalog_job, site_day_job
from bv_assets.partitions import SITE_PARTITIONS_NAME, site_day_key

# Minutes after midnight UTC before a day is closed (late samples still arrive).
DAY_CLOSE_GRACE_MINUTES = int(os.environ.get("BV_DAY_CLOSE_GRACE_MINUTES", "30"))


def day_close_requests(instance: dg.DagsterInstance, scheduled_for) -> list[dg.RunRequest]:
    day = (scheduled_for - timedelta(days=1)).date()
    return [
        dg.RunRequest(partition_key=str(site_day_key(site, day)), run_key=f"day-close-{day}-{site}")
        for site in sorted(instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
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
    return requests or dg.SkipReason("no site is registered yet (see sites_sensor)")


@dg.schedule(
    job=point_catalog_job,
    cron_schedule="5 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh every site's point catalog daily; added/removed points show in the metadata.",
)
def catalog_refresh_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date()
    sites = sorted(context.instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
    return [dg.RunRequest(partition_key=s, run_key=f"catalog-{day}-{s}") for s in sites] or dg.SkipReason(
        "no site is registered yet (see sites_sensor)"
    )
