"""Failure reporting: every failed run is logged with its job, partition and error, and sent
to BV_ALERT_WEBHOOK_URL (JSON POST) when that is set. A webhook that fails is logged, never
hidden — and never fails the sensor into silence."""

import os

import dagster as dg
import httpx


def failure_payload(run: dg.DagsterRun, message: str) -> dict:
    return {
        "text": f"Building Vitals: run {run.run_id[:8]} of {run.job_name} failed"
        + (f" ({run.tags.get('dagster/partition')})" if run.tags.get("dagster/partition") else ""),
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "error": message[:2000],
    }


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="Reports every failed run (log, plus BV_ALERT_WEBHOOK_URL when set).",
)
def run_failure_reporter(context: dg.RunFailureSensorContext):
    message = context.failure_event.message or "run failed"
    payload = failure_payload(context.dagster_run, message)
    context.log.error(payload["text"] + ": " + payload["error"])
    url = os.environ.get("BV_ALERT_WEBHOOK_URL", "").strip()
    if url:
        try:
            httpx.post(url, json=payload, timeout=10).raise_for_status()
        except httpx.HTTPError as exc:
            context.log.error(f"alert webhook failed: {type(exc).__name__}: {exc}")


# Declarative automation is off unless a sensor runs it; this one is on by default and
# rebuilds a month's hourly_rollup after any of its days is (re)archived and passed checks.
rollup_automation_sensor = dg.AutomationConditionSensorDefinition(
    "rollup_automation_sensor",
    target=dg.AssetSelection.assets("hourly_rollup"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    # One run per requested partition (not a backfill), so each shows its own metadata.
    emit_backfills=False,
    description="Evaluates hourly_rollup's automation condition every minute.",
)
