"""point_health (+ its WARN check dead_points_ratio), point_health_job and the automation
sensor that computes a site-day's health once its archive passed the blocking checks.

Thin: the work is bv_pipeline.health_store.build_point_health (rules in bv_pipeline.point_health).
"""


import dagster as dg

from bv_assets.automation import AFTER_CHECKED_ARCHIVE, automation_sensor
import pyarrow as pa

from bv_assets.partitions import site_day_of, site_day_partitions
from bv_config.settings import Settings
from bv_pipeline.health_store import build_point_health, read_health_table, status_counts
from bv_pipeline.point_health import HealthParams
from bv_resources.storage import StorageResource
from bv_store.schemas import HEALTH_SCHEMA

DEAD_POINTS_RATIO = "dead_points_ratio"

_COLUMN_DOCS = {
    "point": "ACE point name (a collect-enabled catalog point)",
    "status": "ok, degraded or dead",
    "reason": "the findings, worst first ('' when ok)",
    "samples": "samples in the archive that UTC day",
    "expected": "86400 / collect_interval; for a change-of-value point the median of its previous days (null: none)",
    "longest_gap_s": "longest time without a sample, day edges included",
    "stale": "a gap of BV_HEALTH_STALE_HOURS or more",
    "flatline": "an analog value unchanged for BV_HEALTH_FLATLINE_HOURS or more",
    "out_of_range": "samples outside the plausible range of the point's unit",
    "spikes": "samples that jump out and straight back (robust z of first differences > BV_HEALTH_SPIKE_Z)",
}
HEALTH_COLUMN_SCHEMA = dg.TableSchema(
    columns=[dg.TableColumn(f.name, str(f.type), description=_COLUMN_DOCS.get(f.name, "")) for f in HEALTH_SCHEMA]
)


def health_params(settings: Settings) -> HealthParams:
    return HealthParams(
        stale_hours=settings.health_stale_hours,
        flatline_hours=settings.health_flatline_hours,
        spike_z=settings.health_spike_z,
    )


def dead_ratio_outcome(table: pa.Table | None, limit: float) -> tuple[bool, str, dict]:
    """(passed, description, metadata) of dead_points_ratio for a stored health table."""
    if table is None:
        return False, "no health file for this site-day", {}
    counts = status_counts(table)
    total = table.num_rows
    ratio = counts["dead"] / total if total else 0.0
    passed = ratio <= limit
    text = (f"{counts['dead']} of {total} points dead ({ratio:.1%}); "
            f"{'at most' if passed else 'above'} BV_HEALTH_DEAD_WARN_RATIO {limit:.1%}")
    return passed, text, {"dead": counts["dead"], "points": total, "dead_ratio": round(ratio, 4), "limit": limit}


def build_health(settings: Settings) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    partitions = site_day_partitions(settings.start_date)
    params = health_params(settings)

    @dg.asset(
        partitions_def=partitions,
        deps=["archived_site_day"],  # same partitions: each site-day reads its own archive
        group_name="health",
        kinds={"python", "parquet"},
        metadata={"dagster/column_schema": HEALTH_COLUMN_SCHEMA},
        # Recomputed whenever the day is (re)archived, never from an archive that failed a
        # blocking check.
        automation_condition=AFTER_CHECKED_ARCHIVE,
        description=(
            "Per collect-enabled point and UTC day: samples vs expected, longest gap, stale, flatline, "
            "out of range for its unit, spikes, and a status ok / degraded / dead with a reason, at "
            "`health/site={site}/date={day}/points.parquet`."
        ),
    )
    def point_health(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
        site, day = site_day_of(context.partition_key)
        result = build_point_health(storage.get_storage(), site, day, params=params, log=context.log)
        meta = result.metadata()
        meta["path"] = dg.MetadataValue.path(str(meta["path"]))
        meta["worst_points"] = dg.MetadataValue.md(result.worst_markdown())
        return dg.MaterializeResult(metadata=meta)

    @dg.asset_check(
        asset=point_health,
        name=DEAD_POINTS_RATIO,
        blocking=False,
        partitions_def=partitions,
        description=f"Warns when more than BV_HEALTH_DEAD_WARN_RATIO ({settings.health_dead_warn_ratio:.0%}) "
        "of the site's points had no sample that day.",
    )
    def dead_points_ratio(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
        site, day = site_day_of(context.partition_key)
        passed, text, meta = dead_ratio_outcome(read_health_table(storage.get_storage(), site, day),
                                                settings.health_dead_warn_ratio)
        return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, description=text,
                                   metadata=meta)

    return point_health, dead_points_ratio


point_health_job = dg.define_asset_job(
    "point_health_job",
    selection=dg.AssetSelection.assets("point_health"),
    description="Recompute point health of site-days from their archive files.",
)

point_health_automation_sensor = automation_sensor("point_health_automation_sensor", "point_health")


def build(settings: Settings) -> dg.Definitions:
    point_health, dead_points_ratio = build_health(settings)
    return dg.Definitions(
        assets=[point_health], asset_checks=[dead_points_ratio], jobs=[point_health_job],
        sensors=[point_health_automation_sensor],
    )
