"""The software-defined assets. Thin: read the partition, call the plain function,
return its metadata. The work lives in catalog.py, raw_ingest.py and archive_build.py."""


import os

import dagster as dg

from bv_assets.archive_build import build_archive
from bv_assets.catalog import read_catalog_names, refresh_catalog
from bv_assets.partitions import (
    site_day_of,
    site_day_partitions,
    site_month_of,
    site_month_partitions,
    site_partitions,
)
from bv_assets.rollup_build import build_month_rollup
from bv_assets.raw_ingest import ingest_site_day
from bv_resources.ace_errors import AceAuthError
from bv_resources.ace_resource import AceResource
from bv_resources.storage import StorageResource

ACE_POOL = "ace_api"
# FlightDeck can answer 5xx "for a while": after the client's own retries, Dagster retries
# the whole site-day step later (a rejected token is a Failure that never retries).
ACE_STEP_RETRY = dg.RetryPolicy(
    max_retries=int(os.environ.get("BV_STEP_RETRIES", "2")),
    delay=float(os.environ.get("BV_STEP_RETRY_DELAY_S", "60")),
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


def _no_retry_on_auth(fn):
    """A rejected token will not heal on retry: fail without Dagster retries."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AceAuthError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc

    return wrapper


@dg.asset(
    partitions_def=site_partitions,
    pool=ACE_POOL,
    group_name="ace",
    kinds={"python", "parquet"},
    description="A site's collect-enabled point catalog (tags, units, BACnet data) from ACE.",
)
def ace_points(context: dg.AssetExecutionContext, ace: AceResource, storage: StorageResource) -> dg.MaterializeResult:
    site = context.partition_key
    with ace.get_client() as client:
        result = _no_retry_on_auth(refresh_catalog)(client, storage.get_storage(), site)
    if result.added or result.removed:
        context.log.info(f"{site}: {len(result.added)} points added, {len(result.removed)} removed")
    return dg.MaterializeResult(metadata=result.metadata())


@dg.asset(
    partitions_def=site_day_partitions,
    pool=ACE_POOL,
    group_name="ace",
    kinds={"python", "parquet"},
    # One site-day per run: a day of a large site is millions of samples, and a failed day
    # is retried alone. Throughput comes from runs in parallel, bounded by the ace_api pool.
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    retry_policy=ACE_STEP_RETRY,
    description="Every sample ACE returned for the site's UTC day, as received (raw zone).",
)
def raw_site_day(context: dg.AssetExecutionContext, ace: AceResource, storage: StorageResource) -> dg.MaterializeResult:
    site, day = site_day_of(context.partition_key)
    with ace.get_client() as client:
        result = _no_retry_on_auth(ingest_site_day)(client, storage.get_storage(), site, day, log=context.log)
    return dg.MaterializeResult(metadata=result.metadata())


@dg.asset(
    partitions_def=site_day_partitions,
    deps=[
        raw_site_day,
        dg.AssetDep(
            ace_points,
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="site"),
        ),
    ],
    group_name="archive",
    kinds={"python", "parquet"},
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    description=(
        "Configured points only, typed values, one row per (point, ts), sorted by point then "
        "time, zstd Parquet at archive/site=<site>/date=<day>/data.parquet."
    ),
)
def archived_site_day(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    site, day = site_day_of(context.partition_key)
    store = storage.get_storage()
    result = build_archive(store, site, day, read_catalog_names(store, site), log=context.log)
    return dg.MaterializeResult(metadata=result.metadata())


# Each archived day feeds the hourly rollup of its month (same site).
DAY_TO_MONTH = dg.MultiPartitionMapping(
    {
        "date": dg.DimensionPartitionMapping(
            "month", dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)
        ),
        "site": dg.DimensionPartitionMapping("site", dg.IdentityPartitionMapping()),
    }
)


@dg.asset(
    partitions_def=site_month_partitions,
    deps=[dg.AssetDep(archived_site_day, partition_mapping=DAY_TO_MONTH)],
    group_name="archive",
    kinds={"duckdb", "parquet"},
    # Rebuilt whenever a day of its month is (re)archived: day close, backfills, late data.
    # Never from a day whose archive failed a blocking check.
    automation_condition=(
        dg.AutomationCondition.any_deps_updated()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ),
    description=(
        "Per point and UTC hour: count, sum, min, max, first, last — one file per site-month at "
        "rollup/hourly/site=<site>/month=<YYYY-MM>/data.parquet, so long-range queries read 12 files a year."
    ),
)
def hourly_rollup(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    site, month = site_month_of(context.partition_key)
    result = build_month_rollup(storage.get_storage(), site, month)
    return dg.MaterializeResult(metadata=result.metadata())
