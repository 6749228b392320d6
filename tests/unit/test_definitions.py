"""The code location loads cleanly: what `dagster dev` shows in the UI."""

import warnings
from datetime import date

import dagster as dg

from bv_assets.definitions import build_defs
from bv_assets.partitions import site_day_key
from bv_config.settings import Settings
from bv_resources.ace import AceResource

defs = build_defs(Settings.load({"BV_SITES": "demo_office,demo_school"}))


def _evaluate(definition, context):
    """Tick a sensor or schedule and close its context (an open one leaks Dagster state into later tests)."""
    with context:
        return definition(context)


def test_definitions_load_without_deprecation_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dg.Definitions.validate_loadable(defs)
        repo = defs.get_repository_def()
    deprecated = [w for w in caught if issubclass(w.category, (DeprecationWarning, dg.SupersessionWarning))]
    assert deprecated == [], [str(w.message) for w in deprecated]
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert keys == {
        "ace_points", "raw_site_day", "archived_site_day", "hourly_rollup", "live_site_samples", "live_released_site_day",
        "point_health",
    }
    repo_jobs = set(repo.job_names)
    assert {"site_day_job", "live_sync_job", "point_catalog_job", "rollup_job", "raw_retention_job"} <= repo_jobs
    assert {s.name for s in repo.schedule_defs} == {
        "day_close_schedule", "catalog_refresh_schedule", "live_sync_schedule", "late_data_schedule", "raw_retention_schedule",
    }
    sensors = {s.name: s for s in repo.sensor_defs}
    assert {"sites_sensor", "run_failure_reporter", "rollup_automation_sensor"} <= set(sensors)
    assert sensors["rollup_automation_sensor"].default_status == dg.DefaultSensorStatus.RUNNING
    assert "point_health_job" in repo_jobs
    assert sensors["point_health_automation_sensor"].default_status == dg.DefaultSensorStatus.RUNNING


def test_asset_graph_partitions_pool_and_checks():
    graph = defs.get_repository_def().asset_graph
    raw = graph.get(dg.AssetKey("raw_site_day"))
    archived = graph.get(dg.AssetKey("archived_site_day"))
    assert {p.to_user_string() for p in archived.parent_keys} == {"raw_site_day", "ace_points"}
    assert isinstance(raw.partitions_def, dg.MultiPartitionsDefinition)
    assert raw.partitions_def.partition_dimension_names == ["date", "site"]
    assert str(site_day_key("ses_falls_city", date(2024, 10, 14))) == "2024-10-14|ses_falls_city"
    assert defs.get_assets_def("raw_site_day").op.pool == "ace_api"
    assert defs.get_assets_def("ace_points").op.pool == "ace_api"
    check_names = {k.name for k in defs.get_repository_def().asset_graph.asset_check_keys}
    assert check_names == {
        "archive_not_empty", "archive_content_matches_raw", "no_nulls_no_duplicates", "timestamps_inside_day",
        "archive_schema_and_order", "points_in_catalog", "points_seen_floor", "coverage", "live_is_fresh",
        "rollup_matches_archive", "dead_points_ratio",
    }
    health = graph.get(dg.AssetKey("point_health"))
    assert {p.to_user_string() for p in health.parent_keys} == {"archived_site_day"}
    assert health.partitions_def == archived.partitions_def
    sensor = defs.get_repository_def().get_sensor_def("sites_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_sites_sensor_registers_new_sites_and_requests_their_catalog(tmp_path):
    sites_sensor = build_defs(Settings.load({"BV_SITES": "alpha,beta", "BV_HOME": str(tmp_path)})).get_sensor_def("sites_sensor")
    ace = {"ace": AceResource(api_base="http://127.0.0.1:9/api", api_key="unused-here")}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["alpha"])
        result = _evaluate(sites_sensor, dg.build_sensor_context(instance=instance, resources=ace))
        assert [r.partition_key for r in result.run_requests] == ["beta"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["beta"]
        instance.add_dynamic_partitions("site", ["beta"])
        again = _evaluate(sites_sensor, dg.build_sensor_context(instance=instance, resources=ace))
        assert not again.run_requests and "registered" in again.skip_reason.skip_message


def test_sites_sensor_reports_an_unconfigured_partition_once(tmp_path):
    sites_sensor = build_defs(Settings.load({"BV_SITES": "alpha", "BV_HOME": str(tmp_path)})).get_sensor_def("sites_sensor")
    ace = {"ace": AceResource(api_base="http://127.0.0.1:9/api", api_key="unused-here")}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["alpha", "alpah"])  # a typo typed into the backfill dialog
        first = _evaluate(sites_sensor, dg.build_sensor_context(instance=instance, resources=ace))
        assert "alpah" in first.skip_reason.skip_message and "bv sites remove alpah" in first.skip_reason.skip_message
        second = _evaluate(sites_sensor, dg.build_sensor_context(instance=instance, resources=ace, cursor=first.cursor))
        assert "alpah" not in second.skip_reason.skip_message  # said once, not every minute


def test_day_close_schedule_asks_for_yesterday_of_every_site(tmp_path):
    from datetime import datetime, timezone

    from support.defs import storage_with_catalogs

    catalog_refresh_schedule = defs.get_schedule_def("catalog_refresh_schedule")
    day_close_schedule = defs.get_schedule_def("day_close_schedule")
    _, resources = storage_with_catalogs(tmp_path, ["demo_office", "demo_school"])
    when = datetime(2025, 6, 4, 0, 30, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources)
        assert isinstance(_evaluate(day_close_schedule, context), dg.SkipReason)
        instance.add_dynamic_partitions("site", ["demo_school", "demo_office", "demo_offce"])  # + a typo
        requests = _evaluate(day_close_schedule, dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources))
        assert [r.partition_key for r in requests] == ["2025-06-03|demo_office", "2025-06-03|demo_school"]
        assert len({r.run_key for r in requests}) == 2
        catalogs = _evaluate(catalog_refresh_schedule, dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources))
        assert [r.partition_key for r in catalogs] == ["demo_office", "demo_school"]
    assert day_close_schedule.cron_schedule == "30 0 * * *"
    assert day_close_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
