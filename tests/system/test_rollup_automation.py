"""hourly_rollup is requested by declarative automation when a day of its month is archived
and passed its blocking checks — and not when a blocking check failed."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from support.fixtures_pipeline import TEST_DAY

from bv_assets.partitions import SITE_PARTITIONS_NAME, site_day_key
from bv_config.settings import Settings
from support.defs import pipeline_defs

SITE = "demo_office"


def _rollups_requested(check_passed: bool, monkeypatch) -> list[str]:
    monkeypatch.setenv("ACE_API_KEY", "unused-here")
    d = pipeline_defs(Settings.load({}))
    archived_site_day_checks = d.checks_of("archived_site_day")
    defs = dg.Definitions(
        assets=[d.asset(n) for n in ("ace_points", "raw_site_day", "archived_site_day", "hourly_rollup")],
        asset_checks=[archived_site_day_checks],
        resources=d.resources,
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SITE])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        key = str(site_day_key(SITE, TEST_DAY))
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archived_site_day", partition=key))
        # Partitioned checks judge the materialization they name (as a run's checks do).
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("archived_site_day"), asset_partitions=[key]), limit=1
        ).records[0]
        target = AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
        )
        for spec in archived_site_day_checks.check_specs:
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey("archived_site_day"), check_name=spec.name, partition=key,
                    passed=check_passed or not spec.blocking, severity=dg.AssetCheckSeverity.ERROR, blocking=spec.blocking,
                    target_materialization_data=target,
                )
            )
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        return [str(k) for k in second.get_requested_partitions(dg.AssetKey("hourly_rollup"))]


def test_rollup_follows_an_archived_day_that_passed_its_checks(monkeypatch):
    assert _rollups_requested(True, monkeypatch) == [f"{TEST_DAY:%Y-%m}|{SITE}"]


def test_rollup_waits_when_a_blocking_check_failed(monkeypatch):
    assert _rollups_requested(False, monkeypatch) == []
