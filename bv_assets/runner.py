"""Run site-day partitions through Dagster from a script or the CLI (`bv materialize`).

Runs execute on the instance in DAGSTER_HOME, so they show in the UI like any other run.
Partitions run one after another; a backfill launched from the UI runs them in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from bv_assets.partitions import register_sites, site_day_key, site_month_key
from bv_config.settings import Settings
from bv_store.days import day_range
from bv_store.layout import validate_site_name


@dataclass
class RunOutcome:
    what: str
    run_id: str
    success: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    details: dict = field(default_factory=dict)


def last_closed_day() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)


def validate_days(days: list[date], settings: Settings) -> None:
    first, last = date.fromisoformat(settings.start_date), last_closed_day()
    for day in days:
        if day < first:
            raise ValueError(f"{day} is before BV_START_DATE={settings.start_date}, the first partition")
        if day > last:
            raise ValueError(f"{day} is not a closed UTC day yet (the newest partition is {last})")


def error_text(error) -> str:
    """The root cause of a Dagster error, not the 'error occurred while executing' wrapper."""
    while error.cause is not None:
        error = error.cause
    return f"{error.cls_name}: {error.message.strip()}" if error.cls_name else error.message.strip()


# Runs still record every event on the instance (the UI shows them); the terminal only gets
# warnings and errors, and `bv` prints one line per run instead.
def console(verbose: bool = False) -> dict:
    """Run config for the terminal: one line per run from `bv` (with the root cause of a
    failure), Dagster's own log only with --verbose. The instance keeps every event either way."""
    return {"loggers": {"console": {"config": {"log_level": "DEBUG" if verbose else "CRITICAL"}}}}


def _outcome(what: str, result: dg.ExecuteInProcessResult) -> RunOutcome:
    outcome = RunOutcome(what=what, run_id=result.run_id, success=result.success)
    for event in result.get_step_failure_events():
        if event.step_failure_data.error:
            outcome.errors.append(f"{event.step_key}: {error_text(event.step_failure_data.error)}")
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            text = f"check {check.check_name} failed ({check.severity.value}): " + ", ".join(
                f"{k}={v.value}" for k, v in check.metadata.items()
            )
            (outcome.errors if check.severity == dg.AssetCheckSeverity.ERROR else outcome.warnings).append(text)
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        count = mat.metadata.get("dagster/row_count")
        if count is not None:
            outcome.rows[mat.asset_key.to_user_string()] = int(count.value)
            outcome.details = {k: v.value for k, v in mat.metadata.items()}
    outcome.success = outcome.success and not outcome.errors
    return outcome


def materialize_site_days(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    sites: list[str],
    start: date,
    end: date,
    *,
    settings: Settings | None = None,
    accept_partial: bool = False,
    verbose: bool = False,
    echo=print,
) -> list[RunOutcome]:
    """Catalog each site, then raw + archive (with checks) for every site-day. With
    `accept_partial`, days below BV_MIN_POINTS_SEEN pass that check, and say so (run tag)."""
    settings = settings or Settings.from_env()
    for site in sites:
        validate_site_name(site)
    days = day_range(start, end)
    validate_days(days, settings)
    added = register_sites(instance, sites)
    if added:
        echo(f"registered site partitions: {', '.join(added)}")
    catalog_job = defs.resolve_job_def("point_catalog_job")
    day_job = defs.resolve_job_def("site_day_job")
    outcomes: list[RunOutcome] = []
    for site in sites:
        result = catalog_job.execute_in_process(
            partition_key=site, instance=instance, raise_on_error=False, run_config=console(verbose)
        )
        outcomes.append(_outcome(f"ace_points {site}", result))
        echo(_line(outcomes[-1]))
        if not outcomes[-1].success:
            return outcomes  # without a catalog nothing of this site can be archived
    for day in days:
        for site in sites:
            key = site_day_key(site, day)
            result = day_job.execute_in_process(
                partition_key=str(key), instance=instance, raise_on_error=False, run_config=console(verbose),
                tags={"bv/accept_partial": "true"} if accept_partial else None,
            )
            outcomes.append(_outcome(f"site-day {key}", result))
            echo(_line(outcomes[-1]))
    return outcomes


def _line(outcome: RunOutcome) -> str:
    status = "ok    " if outcome.success else "FAILED"
    rows = ", ".join(f"{k} {v:,} rows" for k, v in outcome.rows.items())
    text = f"{status} {outcome.what}  {rows}  (run {outcome.run_id[:8]})"
    for warning in outcome.warnings:
        text += f"\n       warning: {warning}"
    for error in outcome.errors:
        text += f"\n       error: {error}"
    return text


def sync_sites(
    instance: dg.DagsterInstance, defs: dg.Definitions, sites: list[str], *, settings: Settings | None = None,
    verbose: bool = False, echo=print,
) -> list[RunOutcome]:
    """One live-sync tick per site as a real Dagster run of live_sync_job (what the schedule
    launches); a site without a stored catalog gets it first, as `bv materialize` does."""
    for site in sites:
        validate_site_name(site)
    added = register_sites(instance, sites)
    if added:
        echo(f"registered site partitions: {', '.join(added)}")
    outcomes = _missing_catalogs(instance, defs, sites, settings or Settings.load(), verbose, echo)
    if any(not o.success for o in outcomes):
        return outcomes
    job = defs.resolve_job_def("live_sync_job")
    for site in sites:
        result = job.execute_in_process(partition_key=site, instance=instance, raise_on_error=False, run_config=console(verbose))
        outcome = _outcome(f"live sync {site}", result)
        outcomes.append(outcome)
        echo(_line(outcome))
    return outcomes


def _missing_catalogs(instance, defs, sites, settings: Settings, verbose: bool, echo) -> list[RunOutcome]:
    from bv_store.layout import points_key
    from bv_store.storage import Storage

    storage = Storage.from_url(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    catalog_job = defs.resolve_job_def("point_catalog_job")
    outcomes = []
    for site in sites:
        if not storage.exists(points_key(site)):
            result = catalog_job.execute_in_process(
                partition_key=site, instance=instance, raise_on_error=False, run_config=console(verbose)
            )
            outcomes.append(_outcome(f"ace_points {site}", result))
            echo(_line(outcomes[-1]))
    return outcomes


def materialize_rollups(
    instance: dg.DagsterInstance, defs: dg.Definitions, sites: list[str], months: list[str], *,
    verbose: bool = False, echo=print,
) -> list[RunOutcome]:
    """hourly_rollup for each site-month (the automation sensor does this when Dagster runs)."""
    job = defs.resolve_job_def("rollup_job")
    outcomes = []
    for month in months:
        for site in sites:
            key = site_month_key(site, month)
            result = job.execute_in_process(partition_key=str(key), instance=instance, raise_on_error=False, run_config=console(verbose))
            outcomes.append(_outcome(f"rollup {key}", result))
            echo(_line(outcomes[-1]))
    return outcomes
