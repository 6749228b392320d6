"""verify_job: the archive and rollup checks re-run over stored partitions (no ACE call),
reported as check evaluations of archived_site_day / hourly_rollup so the UI shows them."""

import dagster as dg
from pydantic import Field

from bv_assets.partitions import site_day_key, site_month_key
from bv_assets.site_day.checks import raw_pruned_before
from bv_config.settings import Settings
from bv_pipeline.archive_checks import Thresholds
from bv_pipeline.verify_store import verify_stored
from bv_resources.duckdb import StorageDuckDBResource
from bv_resources.storage import StorageResource


class VerifyConfig(dg.Config):
    sites: list[str] = Field(description="site names to verify")
    start: str = Field(description="first UTC day, YYYY-MM-DD")
    end: str = Field(description="last UTC day, inclusive, YYYY-MM-DD")
    accept_partial: bool = Field(default=False, description="accept days below BV_MIN_POINTS_SEEN")


def build(settings: Settings) -> dg.Definitions:
    @dg.op(description="Re-run every check of the stored site-days and their months' rollups.")
    def verify_stored_partitions(
        context: dg.OpExecutionContext, config: VerifyConfig, storage: StorageResource, duckdb: StorageDuckDBResource
    ) -> list[str]:
        from datetime import date

        limits = Thresholds(settings.min_points_seen, settings.coverage_warn_ratio, config.accept_partial,
                            raw_pruned_before(settings))
        store = storage.get_storage()
        verdicts = verify_stored(store, config.sites, date.fromisoformat(config.start), date.fromisoformat(config.end),
                                 limits, connect=duckdb.connect)
        for verdict in verdicts:
            if verdict.kind == "site-day":
                asset, partition = "archived_site_day", str(site_day_key(verdict.site, date.fromisoformat(verdict.key)))
            else:
                asset, partition = "hourly_rollup", str(site_month_key(verdict.site, verdict.key))
            for o in verdict.outcomes:
                context.log_event(dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey(asset), check_name=o.name, passed=o.passed, partition=partition,
                    description=o.description, metadata=o.metadata, blocking=o.blocking,
                    severity=dg.AssetCheckSeverity.ERROR if o.blocking else dg.AssetCheckSeverity.WARN,
                ))
            context.log.info(verdict.line())
        return [v.line() for v in verdicts if v.failed]

    # A second step fails the run, so the check evaluations above are kept (a step that
    # raises loses the events it logged).
    @dg.op(description="Fail the run when any stored partition failed a blocking check.")
    def fail_on_failed_checks(failed: list[str]) -> None:
        if failed:
            raise dg.Failure(
                description=f"{len(failed)} stored partitions failed a blocking check: " + "; ".join(failed[:5]),
                allow_retries=False,
            )

    @dg.job(description="Re-run the archive and rollup checks over stored partitions (no ACE call).",
            tags={"bv/kind": "verify"})
    def verify_job():
        fail_on_failed_checks(verify_stored_partitions())

    return dg.Definitions(jobs=[verify_job])
