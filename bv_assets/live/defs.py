"""live_site_samples (+ live_is_fresh), live_released_site_day, live_sync_job and its schedule."""


from datetime import datetime, timedelta, timezone

import dagster as dg

from bv_assets.metadata import typed
from bv_assets.ace_steps import ACE_POOL, no_retry_on_auth
from bv_assets.partitions import NO_SITES, site_day_of, site_day_partitions, site_partitions
from bv_assets.site_guard import site_states
from bv_config.settings import Settings
from bv_pipeline.live_sync import read_cursor, release_live_day, sync_site
from bv_resources.ace import AceResource
from bv_resources.duckdb import StorageDuckDBResource
from bv_resources.storage import StorageResource
from bv_store.catalog import read_catalog_names

def build_live_assets(settings: Settings) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition, dg.AssetsDefinition]:
    overlap = timedelta(minutes=settings.live_overlap_minutes)
    bound = timedelta(minutes=settings.freshness_minutes)

    @dg.asset(
        partitions_def=site_partitions,
        deps=["ace_points"],
        pool=ACE_POOL,
        group_name="live",
        kinds={"python", "parquet"},
        description=(
            "Today's samples, appended every 5 minutes (`live/site={site}/date={day}/part-*.parquet`); "
            "the query layer reads them until the day is archived."
        ),
    )
    def live_site_samples(
        context: dg.AssetExecutionContext, ace: AceResource, storage: StorageResource, duckdb: StorageDuckDBResource
    ) -> dg.MaterializeResult:
        site = context.partition_key
        store = storage.get_storage()
        with ace.get_client() as client:
            result = no_retry_on_auth(sync_site)(
                client, store, site, read_catalog_names(store, site), overlap=overlap, connect=duckdb.connect,
                log=context.log,
            )
        return dg.MaterializeResult(metadata=typed(result.metadata()))

    @dg.asset_check(
        asset=live_site_samples,
        description=f"The newest live sample is at most BV_FRESHNESS_MINUTES ({settings.freshness_minutes:g}) old.",
    )
    def live_is_fresh(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
        site = context.partition_key if context.has_partition_key else None
        if site is None:
            return dg.AssetCheckResult(passed=False, description="no site partition given")
        newest = read_cursor(storage.get_storage(), site)
        if newest is None:
            return dg.AssetCheckResult(passed=False, description=f"{site}: no live sample was ever synced",
                                       metadata={"site": site})
        age = datetime.now(timezone.utc) - newest
        return dg.AssetCheckResult(
            passed=age <= bound,
            description=f"{site}: newest live sample {age.total_seconds() / 60:.1f} min old "
            f"(bound {bound.total_seconds() / 60:.0f})",
            metadata={"site": site, "newest_sample": newest.isoformat(), "age_minutes": round(age.total_seconds() / 60, 1),
                      "bound_minutes": bound.total_seconds() / 60},
        )

    @dg.asset(
        partitions_def=site_day_partitions(settings.start_date),
        deps=["archived_site_day"],
        group_name="live",
        kinds={"python"},
        description="Removes the closed day's live files once its archive passed the blocking checks.",
    )
    def live_released_site_day(
        context: dg.AssetExecutionContext, storage: StorageResource, duckdb: StorageDuckDBResource
    ) -> dg.MaterializeResult:
        site, day = site_day_of(context.partition_key)
        outcome = release_live_day(storage.get_storage(), site, day, connect=duckdb.connect)
        if outcome["live_samples_not_in_archive"] > 0 or outcome["live_values_differing"] > 0:
            context.log.warning(f"{site} {day}: {outcome['kept']}; the archive is authoritative for queries")
        return dg.MaterializeResult(metadata=typed(outcome))

    return live_site_samples, live_is_fresh, live_released_site_day


live_sync_job = dg.define_asset_job(
    "live_sync_job",
    selection=dg.AssetSelection.assets("live_site_samples"),
    tags={"bv/kind": "live_sync"},
    description="One live-sync tick for a site: the window since its cursor, appended to the live store.",
)


def build_live_sync_schedule(settings: Settings) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=live_sync_job,
        cron_schedule="*/5 * * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every 5 minutes, one live-sync run per configured site that has a point catalog.",
    )
    def live_sync_schedule(context: dg.ScheduleEvaluationContext, storage: StorageResource):
        tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
        states = site_states(context.instance, settings, storage.get_storage())
        requests = [
            dg.RunRequest(partition_key=s, run_key=f"live-{tick}-{s}", tags={"bv/live_site": s}) for s in states.active
        ]
        return requests or dg.SkipReason(f"{NO_SITES}. {states.skip_note()}".strip(". "))

    return live_sync_schedule


def build(settings: Settings) -> dg.Definitions:
    samples, fresh, released = build_live_assets(settings)
    return dg.Definitions(
        assets=[samples, released], asset_checks=[fresh], jobs=[live_sync_job],
        schedules=[build_live_sync_schedule(settings)],
    )
