"""Live assets: the 5-minute sync per site, its freshness check, and the release of a closed
day's live data (downstream of the archive, so Dagster runs it only after the archive's
blocking checks passed)."""

import os
from datetime import datetime, timedelta, timezone

import dagster as dg

from bv_assets.assets import ACE_POOL, _no_retry_on_auth, archived_site_day
from bv_assets.catalog import read_catalog_names
from bv_assets.live_sync import read_cursor, release_live_day, sync_site
from bv_assets.partitions import site_day_of, site_day_partitions, site_partitions
from bv_resources.ace_resource import AceResource
from bv_resources.storage import StorageResource


def _overlap() -> timedelta:
    return timedelta(minutes=float(os.environ.get("BV_LIVE_OVERLAP_MINUTES", "10")))


def freshness_bound() -> timedelta:
    return timedelta(minutes=float(os.environ.get("BV_FRESHNESS_MINUTES", "15")))


@dg.asset(
    partitions_def=site_partitions,
    deps=["ace_points"],
    pool=ACE_POOL,
    group_name="live",
    kinds={"python", "parquet"},
    description=(
        "Today's samples, appended every 5 minutes (live/site=<site>/date=<day>/part-*.parquet); "
        "the query layer reads them until the day is archived."
    ),
)
def live_site_samples(context: dg.AssetExecutionContext, ace: AceResource, storage: StorageResource) -> dg.MaterializeResult:
    site = context.partition_key
    store = storage.get_storage()
    with ace.get_client() as client:
        result = _no_retry_on_auth(sync_site)(
            client, store, site, read_catalog_names(store, site), overlap=_overlap(), log=context.log
        )
    return dg.MaterializeResult(metadata=result.metadata())


@dg.asset_check(
    asset=live_site_samples,
    description="The newest live sample is at most BV_FRESHNESS_MINUTES (15) old.",
)
def live_is_fresh(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    site = context.partition_key if context.has_partition_key else None
    if site is None:
        return dg.AssetCheckResult(passed=False, description="no site partition given")
    newest = read_cursor(storage.get_storage(), site)
    bound = freshness_bound()
    if newest is None:
        return dg.AssetCheckResult(passed=False, description=f"{site}: no live sample was ever synced",
                                   metadata={"site": site})
    age = datetime.now(timezone.utc) - newest
    return dg.AssetCheckResult(
        passed=age <= bound,
        description=f"{site}: newest live sample {age.total_seconds() / 60:.1f} min old (bound {bound.total_seconds() / 60:.0f})",
        metadata={"site": site, "newest_sample": newest.isoformat(), "age_minutes": round(age.total_seconds() / 60, 1),
                  "bound_minutes": bound.total_seconds() / 60},
    )


@dg.asset(
    partitions_def=site_day_partitions,
    deps=[archived_site_day],
    group_name="live",
    kinds={"python"},
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    description="Removes the closed day's live files once its archive passed the blocking checks.",
)
def live_released_site_day(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    site, day = site_day_of(context.partition_key)
    outcome = release_live_day(storage.get_storage(), site, day)
    if outcome["live_samples_not_in_archive"] > 0:
        context.log.warning(
            f"{site} {day}: {outcome['live_samples_not_in_archive']} live samples are not in the archive "
            "(ACE no longer returns them); the archive is authoritative"
        )
    return dg.MaterializeResult(metadata=outcome)
