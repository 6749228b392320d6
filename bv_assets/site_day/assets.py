"""raw_site_day and archived_site_day. Thin: read the partition, call the plain function,
return its metadata; the work lives in bv_pipeline.raw_ingest and bv_pipeline.archive_build."""


import dagster as dg

from bv_assets.metadata import typed
from bv_assets.ace_steps import ACE_POOL, ace_retry_policy, no_retry_on_auth
from bv_assets.partitions import site_day_of, site_day_partitions
from bv_config.settings import Settings
from bv_pipeline.archive_build import build_archive
from bv_pipeline.raw_ingest import ingest_site_day
from bv_resources.ace import AceResource
from bv_resources.storage import StorageResource
from bv_store.catalog import snapshot_catalog
from bv_store.schemas import ARCHIVE_COLUMN_DOCS, ARCHIVE_DUCKDB_TYPES
from bv_store.site_day_lock import site_day_lock

# The archive's public schema, shown on the asset's page in the UI.
ARCHIVE_COLUMN_SCHEMA = dg.TableSchema(
    columns=[dg.TableColumn(name, ARCHIVE_DUCKDB_TYPES[name], description=doc) for name, doc in ARCHIVE_COLUMN_DOCS.items()]
)
# One site-day per run: a day of a large site is millions of samples, and a failed day
# is retried alone. Throughput comes from runs in parallel, bounded by the ace_api pool.
ACCEPT_PARTIAL_TAG = "bv/accept_partial"
# Raw and archive in one group: the group's "Materialize all" backfills both together.
SITE_DAY_GROUP = "site_day"


def build_site_day_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    partitions = site_day_partitions(settings.start_date)

    @dg.asset(
        partitions_def=partitions,
        pool=ACE_POOL,
        group_name=SITE_DAY_GROUP,
        kinds={"python", "parquet"},
        retry_policy=ace_retry_policy(settings),
        description="Every sample ACE returned for the site's UTC day, as received (value and time "
        "still strings), at `raw/site={site}/date={day}/samples.parquet`.",
    )
    def raw_site_day(context: dg.AssetExecutionContext, ace: AceResource, storage: StorageResource) -> dg.MaterializeResult:
        site, day = site_day_of(context.partition_key)
        store = storage.get_storage()
        # One writer per site-day (runs that bypass the run queue: in-process, `bv materialize`).
        with site_day_lock(store, site, day, what=f"raw run {context.run.run_id[:8]}") as held, ace.get_client() as client:
            result = no_retry_on_auth(ingest_site_day)(
                client, store, site, day, max_shrink_ratio=settings.max_shrink_ratio, log=context.log
            )
            held.check()
        return dg.MaterializeResult(metadata=typed({**result.metadata(), "lock_waited_seconds": held.waited_s}))

    @dg.asset(
        partitions_def=partitions,
        deps=[
            raw_site_day,
            dg.AssetDep(
                "ace_points",
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="site"),
            ),
        ],
        group_name=SITE_DAY_GROUP,
        kinds={"python", "parquet"},
        metadata={"dagster/column_schema": ARCHIVE_COLUMN_SCHEMA},
        description=(
            "Configured points only, typed values, one row per (point, ts), sorted by point then "
            "time, zstd Parquet at `archive/site={site}/date={day}/data.parquet`. Every raw sample is "
            "either archived or counted under exactly one reason: `raw_rows` = `dagster/row_count` + "
            "`dropped_total`; `dropped_by_reason` says what each reason means (`not_collected`, samples of "
            "points that are not collect-enabled, is usually most of it). Historical import: backfill the "
            "`site_day` group (or `site_day_job`) over dates and sites."
        ),
    )
    def archived_site_day(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
        site, day = site_day_of(context.partition_key)
        store = storage.get_storage()
        names, _version = snapshot_catalog(store, site)  # the archive records this version
        partial = str(context.run.tags.get(ACCEPT_PARTIAL_TAG, "")).lower() == "true"
        # Under the site-day lock the raw file cannot change between reading it and publishing
        # the archive, and live release / live parts of the day wait (bv_store.site_day_lock).
        with site_day_lock(store, site, day, what=f"archive run {context.run.run_id[:8]}") as held:
            result = build_archive(store, site, day, names, max_shrink_ratio=settings.max_shrink_ratio,
                                   accepted_partial=partial, log=context.log)
            held.check()
        return dg.MaterializeResult(metadata=typed({**result.metadata(), "lock_waited_seconds": held.waited_s}))

    return [raw_site_day, archived_site_day]
