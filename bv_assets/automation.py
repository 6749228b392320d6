"""Declarative automation shared by the assets downstream of the archive (rollups, health)."""

import dagster as dg

# Rebuilt whenever an upstream day is (re)archived — day close, backfills, late data — and
# never from an archive that failed a blocking check.
AFTER_CHECKED_ARCHIVE = (
    dg.AutomationCondition.any_deps_updated()
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
)


def automation_sensor(name: str, asset: str) -> dg.AutomationConditionSensorDefinition:
    """Declarative automation is off unless a sensor runs it: this one is on by default and
    evaluates `asset`'s condition every minute, one run per requested partition."""
    return dg.AutomationConditionSensorDefinition(
        name,
        target=dg.AssetSelection.assets(asset),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        emit_backfills=False,  # one run per partition, so each shows its own metadata
        description=f"Evaluates {asset}'s automation condition every minute.",
    )
