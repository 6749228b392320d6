"""ace_points, point_catalog_job and catalog_refresh_schedule."""


import dagster as dg

from bv_assets.metadata import typed
from bv_assets.ace_steps import ACE_POOL, no_retry_on_auth
from bv_assets.partitions import NO_SITES, site_partitions
from bv_assets.site_guard import site_states
from bv_config.settings import Settings
from bv_pipeline.catalog_refresh import refresh_catalog
from bv_resources.ace import AceResource
from bv_resources.storage import StorageResource

@dg.asset(
    partitions_def=site_partitions,
    pool=ACE_POOL,
    group_name="catalog",
    kinds={"python", "parquet"},
    description="A site's collect-enabled point catalog (tags, units, BACnet data) from ACE, "
    "at `points/site={site}/points.parquet`.",
)
def ace_points(context: dg.AssetExecutionContext, ace: AceResource, storage: StorageResource) -> dg.MaterializeResult:
    site = context.partition_key
    with ace.get_client() as client:
        result = no_retry_on_auth(refresh_catalog)(client, storage.get_storage(), site)
    if result.added or result.removed:
        context.log.info(f"{site}: {len(result.added)} points added, {len(result.removed)} removed")
    return dg.MaterializeResult(metadata=typed(result.metadata()))


point_catalog_job = dg.define_asset_job(
    "point_catalog_job",
    selection=dg.AssetSelection.assets(ace_points),
    description="Refresh a site's configured-point catalog.",
)


def build_catalog_refresh_schedule(settings: Settings) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=point_catalog_job,
        cron_schedule="5 0 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Refresh every configured site's point catalog daily; added/removed points show in the metadata.",
    )
    def catalog_refresh_schedule(context: dg.ScheduleEvaluationContext, storage: StorageResource):
        day = context.scheduled_execution_time.date()
        states = site_states(context.instance, settings, storage.get_storage())
        sites = sorted(states.active + states.no_catalog)
        return [dg.RunRequest(partition_key=s, run_key=f"catalog-{day}-{s}") for s in sites] or dg.SkipReason(NO_SITES)

    return catalog_refresh_schedule


def build(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[ace_points], jobs=[point_catalog_job], schedules=[build_catalog_refresh_schedule(settings)]
    )
