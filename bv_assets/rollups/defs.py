"""hourly_rollup, rollup_job and the automation sensor that keeps it current."""


import dagster as dg

from bv_assets.automation import AFTER_CHECKED_ARCHIVE, automation_sensor

from bv_assets.metadata import typed
from bv_assets.partitions import site_month_of, site_month_partitions
from bv_config.settings import Settings
from bv_assets.site_day.checks import to_result
from bv_pipeline.rollup_build import build_month_rollup
from bv_pipeline.rollup_checks import DESCRIPTION, ROLLUP_MATCHES, check_rollup
from bv_resources.duckdb import StorageDuckDBResource
from bv_resources.storage import StorageResource

# Each archived day feeds the hourly rollup of its month (same site).
DAY_TO_MONTH = dg.MultiPartitionMapping(
    {
        "date": dg.DimensionPartitionMapping(
            "month", dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)
        ),
        "site": dg.DimensionPartitionMapping("site", dg.IdentityPartitionMapping()),
    }
)


def build_rollup_asset(settings: Settings) -> dg.AssetsDefinition:
    @dg.asset(
        partitions_def=site_month_partitions(settings.start_date),
        deps=[dg.AssetDep("archived_site_day", partition_mapping=DAY_TO_MONTH)],
        group_name="rollups",
        kinds={"duckdb", "parquet"},
        # Rebuilt whenever a day of its month is (re)archived: day close, backfills, late data.
        # Never from a day whose archive failed a blocking check.
        automation_condition=AFTER_CHECKED_ARCHIVE,
        description=(
            "Per point and UTC hour: count, sum, min, max, first, last — one file per site-month at "
            "`rollup/hourly/site={site}/month={YYYY-MM}/data.parquet`, so long-range queries read 12 files a year."
        ),
    )
    def hourly_rollup(
        context: dg.AssetExecutionContext, storage: StorageResource, duckdb: StorageDuckDBResource
    ) -> dg.MaterializeResult:
        site, month = site_month_of(context.partition_key)
        result = build_month_rollup(storage.get_storage(), site, month, connect=duckdb.connect)
        return dg.MaterializeResult(metadata=typed(result.metadata()))

    return hourly_rollup


def build_rollup_check(hourly_rollup: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=hourly_rollup, name=ROLLUP_MATCHES, blocking=True, description=DESCRIPTION,
                    partitions_def=hourly_rollup.partitions_def)
    def rollup_matches_archive(
        context: dg.AssetCheckExecutionContext, storage: StorageResource, duckdb: StorageDuckDBResource
    ) -> dg.AssetCheckResult:
        site, month = site_month_of(context.partition_key)
        store = storage.get_storage()
        with duckdb.connect(store) as con:
            return to_result(check_rollup(store, con, site, month))

    return rollup_matches_archive


rollup_job = dg.define_asset_job(
    "rollup_job",
    selection=dg.AssetSelection.assets("hourly_rollup"),
    description="Rebuild a site-month's hourly rollup from its archived days.",
)

rollup_automation_sensor = automation_sensor("rollup_automation_sensor", "hourly_rollup")


def build(settings: Settings) -> dg.Definitions:
    hourly_rollup = build_rollup_asset(settings)
    return dg.Definitions(
        assets=[hourly_rollup], asset_checks=[build_rollup_check(hourly_rollup)], jobs=[rollup_job],
        sensors=[rollup_automation_sensor],
    )
