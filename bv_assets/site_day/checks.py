"""Asset checks on archived_site_day: the archive file is read back through DuckDB.

One multi-check reads the file once and reports each property as its own check, so the
UI shows exactly which one failed. All but coverage are blocking: a failed partition does
not feed anything downstream. The decisions live in bv_pipeline.archive_checks.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from bv_assets.partitions import site_day_of
from bv_assets.site_day.assets import ACCEPT_PARTIAL_TAG
from bv_config.settings import Settings
from bv_pipeline.archive_checks import ALL_CHECKS, BLOCKING, CheckOutcome, Thresholds, check_site_day
from bv_resources.duckdb import StorageDuckDBResource
from bv_resources.storage import StorageResource


def thresholds(settings: Settings, tags: dict) -> Thresholds:
    return Thresholds(
        min_points_seen=settings.min_points_seen,
        coverage_warn_ratio=settings.coverage_warn_ratio,
        accept_partial=str(tags.get(ACCEPT_PARTIAL_TAG, "")).lower() == "true",
        raw_pruned_before=raw_pruned_before(settings),
    )


def raw_pruned_before(settings: Settings):
    if settings.raw_retention_days is None:
        return None
    return datetime.now(timezone.utc).date() - timedelta(days=settings.raw_retention_days)


def to_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.blocking else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata=outcome.metadata,
    )


def build_archive_checks(settings: Settings, archived_site_day: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    # Partitioned like the asset: each result belongs to its site-day in the UI.
    partitions = archived_site_day.partitions_def
    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(name, asset=archived_site_day, blocking=name in BLOCKING, description=text,
                              partitions_def=partitions)
            for name, text in ALL_CHECKS.items()
        ],
    )
    def archived_site_day_checks(
        context: dg.AssetCheckExecutionContext, storage: StorageResource, duckdb: StorageDuckDBResource
    ):
        site, day = site_day_of(context.partition_key)
        store = storage.get_storage()
        with duckdb.connect(store) as con:
            outcomes = check_site_day(store, con, site, day, thresholds(settings, context.run.tags))
        for outcome in outcomes:
            yield to_result(outcome)

    return archived_site_day_checks
