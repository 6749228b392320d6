"""The Dagster code location: `dagster dev -w workspace.yaml` loads `defs` from here."""

import dagster as dg

from bv_assets.assets import ace_points, archived_site_day, hourly_rollup, raw_site_day
from bv_assets.checks import archived_site_day_checks
from bv_assets.jobs import live_sync_job, point_catalog_job, rollup_job, site_day_job
from bv_assets.live_assets import live_is_fresh, live_released_site_day, live_site_samples
from bv_assets.schedules import (
    catalog_refresh_schedule,
    day_close_schedule,
    late_data_schedule,
    live_sync_schedule,
    raw_retention_job,
    raw_retention_schedule,
)
from bv_assets.sensors import rollup_automation_sensor, run_failure_reporter
from bv_assets.sites import sites_sensor
from bv_query.resource import QueryEngineResource
from bv_resources.ace_resource import AceResource
from bv_resources.settings import Settings
from bv_resources.storage import StorageResource


def build_resources(settings: Settings) -> dict:
    return {
        # The key is read from the environment at run time and never shown in the UI.
        "ace": AceResource(api_base=settings.ace_api_base, api_key=dg.EnvVar("ACE_API_KEY")),
        "storage": StorageResource(url=settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url),
        "query": QueryEngineResource(storage_url=settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url),
    }


defs = dg.Definitions(
    assets=[ace_points, raw_site_day, archived_site_day, hourly_rollup, live_site_samples, live_released_site_day],
    asset_checks=[archived_site_day_checks, live_is_fresh],
    jobs=[site_day_job, point_catalog_job, rollup_job, live_sync_job, raw_retention_job],
    sensors=[sites_sensor, run_failure_reporter, rollup_automation_sensor],
    schedules=[day_close_schedule, catalog_refresh_schedule, live_sync_schedule, late_data_schedule, raw_retention_schedule],
    resources=build_resources(Settings.from_env()),
    # A site-day run's steps (raw -> archive -> checks) are sequential, so one process per run
    # saves two process start-ups per partition; parallelism comes from concurrent runs.
    executor=dg.in_process_executor,
)
