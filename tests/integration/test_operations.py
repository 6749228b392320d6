"""Schedules and sensors of the running system, ticked with Dagster's context builders
against a real instance: live sync, day close, late-data re-check, retention, sites file,
and the run-failure reporter posting to a real webhook receiver on loopback."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg

from bv_assets.alerts.defs import AlertWebhookResource
from bv_assets.partitions import SITE_PARTITIONS_NAME
from bv_config.settings import Settings
from bv_pipeline.maintenance import prune_raw_zone
from bv_resources.ace import AceResource
from bv_store.publish import publish_bytes
from support.defs import pipeline_defs, storage_with_catalogs


def _evaluate(definition, context):
    """Tick a sensor or schedule and close its context (an open one leaks Dagster state into later tests)."""
    with context:
        return definition(context)


def _defs(**env):
    return pipeline_defs(Settings.load(env))


live_sync_schedule = _defs(BV_SITES="a_site,b_site").schedule("live_sync_schedule")
late_data_schedule = _defs(BV_SITES="a_site,b_site").schedule("late_data_schedule")
run_failure_reporter = _defs().sensor("run_failure_reporter")


@contextmanager
def _instance_with_sites(*sites):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, list(sites))
        yield instance


def _tick(schedule, instance, when: datetime, resources=None):
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources) as ctx:
        return schedule(ctx)


def test_live_sync_ticks_one_run_per_site_every_five_minutes(tmp_path):
    _, resources = storage_with_catalogs(tmp_path, ["a_site", "b_site"])
    with _instance_with_sites("a_site", "b_site", "a_sitee") as instance:  # a_sitee: a typo, never synced
        requests = _tick(live_sync_schedule, instance, datetime(2026, 5, 1, 10, 5, tzinfo=timezone.utc), resources)
    assert [r.partition_key for r in requests] == ["a_site", "b_site"]
    assert len({r.run_key for r in requests}) == 2 and live_sync_schedule.cron_schedule == "*/5 * * * *"
    assert {r.tags["bv/live_site"] for r in requests} == {"a_site", "b_site"}


def test_live_sync_waits_for_a_new_sites_catalog(tmp_path):
    _, resources = storage_with_catalogs(tmp_path, ["a_site"])
    with _instance_with_sites("a_site", "b_site") as instance:  # b_site: registered, catalog not fetched yet
        requests = _tick(live_sync_schedule, instance, datetime(2026, 5, 1, 10, 5, tzinfo=timezone.utc), resources)
    assert [r.partition_key for r in requests] == ["a_site"]


def test_late_data_recheck_asks_for_the_two_days_before_yesterday(tmp_path):
    _, resources = storage_with_catalogs(tmp_path, ["a_site"])
    with _instance_with_sites("a_site") as instance:
        requests = _tick(late_data_schedule, instance, datetime(2026, 5, 10, 3, 0, tzinfo=timezone.utc), resources)
    assert sorted(r.partition_key for r in requests) == ["2026-05-07|a_site", "2026-05-08|a_site"]


def test_raw_retention_deletes_only_old_raw_days(local_storage):
    for day in ("2026-04-01", "2026-04-29", "2026-05-01"):
        publish_bytes(local_storage, f"raw/site=a_site/date={day}/samples.parquet", b"x")
        publish_bytes(local_storage, f"archive/site=a_site/date={day}/data.parquet", b"x")
    deleted = prune_raw_zone(local_storage, 7, date(2026, 5, 2))
    assert deleted == ["raw/site=a_site/date=2026-04-01/samples.parquet"]
    assert len(local_storage.list("archive/")) == 3 and len(local_storage.list("raw/")) == 2
    when = datetime(2026, 5, 2, 4, tzinfo=timezone.utc)
    with _instance_with_sites("a_site") as instance:
        unset = _defs().schedule("raw_retention_schedule")
        assert isinstance(_tick(unset, instance, when), dg.SkipReason)
        thirty = _defs(BV_RAW_RETENTION_DAYS="30").schedule("raw_retention_schedule")
        assert isinstance(_tick(thirty, instance, when), dg.RunRequest)


def test_a_site_added_to_the_sites_file_is_registered_without_restart(tmp_path):
    sites_sensor = _defs(BV_SITES="demo_office", BV_SITES_FILE=str(tmp_path / "sites.txt")).sensor("sites_sensor")
    ace = {"ace": AceResource(api_base="http://127.0.0.1:9/api", api_key="unused-here")}
    with dg.instance_for_test() as instance:
        first = _evaluate(sites_sensor, dg.build_sensor_context(instance=instance, resources=ace))
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, ["demo_office"])
        assert [r.partition_key for r in first.run_requests] == ["demo_office"]
        (tmp_path / "sites.txt").write_text("# added by ops\nnew_site\n")
        second = _evaluate(sites_sensor, dg.build_sensor_context(instance=instance, resources=ace))
        assert [r.partition_key for r in second.run_requests] == ["new_site"]


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_failed_runs_are_reported_to_the_webhook():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    alerts = AlertWebhookResource(url=f"http://127.0.0.1:{server.server_port}/hook")

    @dg.op
    def breaks():
        raise RuntimeError("storage s3://bucket/archive unreachable")

    @dg.job
    def failing_job():
        breaks()

    try:
        with dg.instance_for_test() as instance:
            result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
            run = instance.get_run_by_id(result.run_id)
            failure = result.get_run_failure_event()
            ctx = dg.build_run_status_sensor_context(
                sensor_name="run_failure_reporter", dagster_event=failure, dagster_instance=instance, dagster_run=run,
                resources={"alerts": alerts},
            ).for_run_failure()
            run_failure_reporter(ctx)
    finally:
        server.shutdown()
    assert len(_Receiver.received) == 1
    sent = _Receiver.received[0]
    assert sent["run_id"] == result.run_id and sent["job"] == "failing_job" and "failed" in sent["text"]
