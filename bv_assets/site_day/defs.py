"""site_day_job, day close (yesterday after a grace period) and the late-data re-check."""


from datetime import timedelta

import dagster as dg

from bv_assets.partitions import NO_SITES, site_day_key
from bv_assets.site_day.assets import build_site_day_assets
from bv_assets.site_day.checks import build_archive_checks
from bv_assets.site_guard import site_states
from bv_config.settings import Settings
from bv_resources.storage import StorageResource

# Checks of the selected assets run in the same job, after the asset they verify.
site_day_job = dg.define_asset_job(
    "site_day_job",
    selection=dg.AssetSelection.assets("raw_site_day", "archived_site_day", "live_released_site_day", "point_health"),
    description=(
        "Fetch one site-day from ACE into the raw zone, archive it, and (once the archive's "
        "blocking checks passed) remove that day's live data and compute its point health."
    ),
)


def day_close_requests(sites: list[str], scheduled_for) -> list[dg.RunRequest]:
    day = (scheduled_for - timedelta(days=1)).date()
    return [
        dg.RunRequest(partition_key=str(site_day_key(site, day)), run_key=f"day-close-{day}-{site}")
        for site in sites
    ]


def late_data_requests(sites: list[str], scheduled_for, days: int) -> list[dg.RunRequest]:
    """Re-fetch and re-archive the N days before yesterday; the archive's metadata records
    how many rows changed (re-materialization is idempotent: unchanged data, same bytes)."""
    out = []
    for back in range(2, 2 + days):
        day = (scheduled_for - timedelta(days=back)).date()
        for site in sites:
            out.append(
                dg.RunRequest(
                    partition_key=str(site_day_key(site, day)),
                    run_key=f"late-data-{scheduled_for:%Y%m%d}-{day}-{site}",
                    tags={"bv/kind": "late_data_recheck"},
                )
            )
    return out


def build_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    grace = settings.day_close_grace_minutes

    @dg.schedule(
        job=site_day_job,
        cron_schedule=f"{grace % 60} {grace // 60} * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Close yesterday (UTC): raw_site_day + archived_site_day for every site, after a grace period.",
    )
    def day_close_schedule(context: dg.ScheduleEvaluationContext, storage: StorageResource):
        states = site_states(context.instance, settings, storage.get_storage())
        requests = day_close_requests(states.active, context.scheduled_execution_time)
        return requests or dg.SkipReason(f"{NO_SITES}. {states.skip_note()}".strip(". "))

    @dg.schedule(
        job=site_day_job,
        cron_schedule="0 3 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Daily late-data re-check: re-archive the BV_LATE_DATA_DAYS ({settings.late_data_days}) "
        "days before yesterday.",
    )
    def late_data_schedule(context: dg.ScheduleEvaluationContext, storage: StorageResource):
        states = site_states(context.instance, settings, storage.get_storage())
        requests = late_data_requests(states.active, context.scheduled_execution_time, settings.late_data_days)
        return requests or dg.SkipReason(f"{NO_SITES}. {states.skip_note()}".strip(". "))

    return [day_close_schedule, late_data_schedule]


def build(settings: Settings) -> dg.Definitions:
    raw_site_day, archived_site_day = build_site_day_assets(settings)
    return dg.Definitions(
        assets=[raw_site_day, archived_site_day],
        asset_checks=[build_archive_checks(settings, archived_site_day)],
        jobs=[site_day_job],
        schedules=build_schedules(settings),
    )
