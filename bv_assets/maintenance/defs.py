"""raw_retention_job and its daily schedule (a no-op unless BV_RAW_RETENTION_DAYS is set)."""


from datetime import datetime, timezone

import dagster as dg

from bv_config.settings import Settings
from bv_pipeline.maintenance import prune_raw_zone
from bv_resources.storage import StorageResource

UNSET = "BV_RAW_RETENTION_DAYS is unset: the raw zone is kept"


def build(settings: Settings) -> dg.Definitions:
    keep = settings.raw_retention_days

    @dg.op(description="Delete raw-zone files older than BV_RAW_RETENTION_DAYS (archive kept).")
    def prune_raw_op(context: dg.OpExecutionContext, storage: StorageResource) -> None:
        if keep is None:
            context.log.info(UNSET)
            return
        deleted = prune_raw_zone(storage.get_storage(), keep, datetime.now(timezone.utc).date())
        context.log.info(f"raw retention {keep} days: deleted {len(deleted)} raw files")

    @dg.job(description="Raw-zone retention (BV_RAW_RETENTION_DAYS).")
    def raw_retention_job():
        prune_raw_op()

    @dg.schedule(
        job=raw_retention_job,
        cron_schedule="0 4 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Daily raw-zone retention (no-op unless BV_RAW_RETENTION_DAYS is set).",
    )
    def raw_retention_schedule(context: dg.ScheduleEvaluationContext):
        if keep is None:
            return dg.SkipReason(UNSET)
        return dg.RunRequest(run_key=f"retention-{context.scheduled_execution_time:%Y%m%d}")

    return dg.Definitions(jobs=[raw_retention_job], schedules=[raw_retention_schedule])
