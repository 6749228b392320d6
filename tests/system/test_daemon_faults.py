"""Orchestrator faults: the daemon SIGKILLed mid-backfill, and a run's worker SIGKILLed mid-run.

A real `dagster-webserver` and a real `dagster-daemon` (each with its code server) run on a
temporary DAGSTER_HOME whose dagster.yaml is the shipped one with short monitoring polls,
against the simulator. One 5-day x 2-site backfill (10 site-days) is launched through GraphQL:

1. When some but not all archives are stored, the daemon (only its process) is SIGKILLed and
   restarted: the backfill completes, each archive equals the simulator's samples, has no
   duplicate rows, and the event log says how often each partition was materialized.
2. Then one STARTED run's worker process is SIGKILLed: the run is marked FAILURE (not left
   STARTED) within the configured bound, run retries launch a new run, and it succeeds.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from support.fixtures_pipeline import TEST_DAY, Pipeline
from support.oracles import assert_same_samples, samples_from_mapping
from support.ports import free_port
from support.waiting import http_ok, wait_for
from test_pipeline import expected_archive

from bv_assets.partitions import site_day_key
from bv_cli.backfill import BackfillClient
from bv_cli.home import SHIPPED_DAGSTER_YAML, SHIPPED_WORKSPACE
from bv_config.settings import Settings
from bv_store.duckdb_conn import duckdb_connect
from bv_store.layout import archive_key
from bv_store.storage import Storage

REPO = Path(__file__).resolve().parents[2]
SITES = ["demo_office", "demo_school"]
DAYS = [TEST_DAY + timedelta(days=i) for i in range(5)]
# A killed run worker must be marked failed within this bound (the code server that started it
# polls its process every 0.5 s; run monitoring's poll in this instance is 1 s).
DEAD_RUN_BOUND_S = 30
_PID = re.compile(r"Started process for run \(pid: (\d+)\)")


def _instance_yaml() -> dict:
    """The shipped instance settings, with the monitoring poll shortened for the test."""
    shipped = yaml.safe_load(SHIPPED_DAGSTER_YAML.read_text())
    monitoring, retries = shipped["run_monitoring"], shipped["run_retries"]
    assert monitoring["enabled"] is True and monitoring["start_timeout_seconds"] > 0
    assert monitoring["cancel_timeout_seconds"] > 0 and monitoring["max_runtime_seconds"] > 0
    assert retries["enabled"] is True and retries["max_retries"] >= 1
    assert retries["retry_on_asset_or_op_failure"] is False
    limits = {(t["key"], bool(t.get("value"))): t["limit"] for t in shipped["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert limits[("dagster/partition", True)] == 1
    shipped["run_monitoring"] = {**monitoring, "poll_interval_seconds": 1, "start_timeout_seconds": 60,
                                 "cancel_timeout_seconds": 30}
    # No automation-sensor runs (point health, rollups) competing with the backfill for the
    # two cores: this test is about the backfill and the run worker.
    shipped["auto_materialize"] = {"enabled": False}
    return shipped


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _archives(storage: Storage) -> list[str]:
    return [k for k in storage.list("archive/") if k.endswith("data.parquet")]


def _materializations(instance: dg.DagsterInstance, asset: str) -> Counter:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    return Counter(r.partition_key for r in records)


def _run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if m := _PID.search(entry.message or ""):
            return int(m.group(1))
    return None


def _failure_text(instance: dg.DagsterInstance, run_id: str) -> str:
    """The run's failure message and the engine events just before it (what failed it)."""
    lines = []
    for entry in instance.all_logs(run_id):
        kind = entry.dagster_event.event_type_value if entry.dagster_event else "log"
        if kind in ("RUN_FAILURE", "ENGINE_EVENT", "RUN_DEQUEUED", "RUN_STARTING", "RUN_START", "STEP_FAILURE"):
            lines.append(f"{kind}: {(entry.message or '')[:200]}")
    return " | ".join(lines[-4:])


@pytest.mark.slow
def test_daemon_and_run_worker_killed_mid_backfill(ace_sim, sim_token, tmp_path, monkeypatch, reliability):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(_instance_yaml()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "DAGSTER_"))}
    env.update(ACE_API_BASE=ace_sim.base_url, ACE_API_KEY=sim_token, BV_SITES=",".join(SITES),
               BV_STORAGE_URL=str(tmp_path / "storage"), BV_START_DATE=TEST_DAY.isoformat(),
               DAGSTER_HOME=str(home))
    storage = Storage.from_url(env["BV_STORAGE_URL"])
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ACE_API_KEY", sim_token)
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.run_monitoring_enabled and instance.run_retries_enabled

    # Sites and catalogs in place before the daemon starts (what sites_sensor would do).
    settings = Settings.load({k: v for k, v in env.items() if k.startswith(("BV_", "ACE_API_BASE"))})
    pipe = Pipeline(instance=instance, settings=settings, storage=storage, sim=ace_sim)
    for site in SITES:
        assert pipe.catalog(site).success

    bin_dir = Path(sys.executable).parent
    log = tmp_path / "dagster.log"
    port = free_port()
    web = _start([str(bin_dir / "dagster-webserver"), "-w", str(SHIPPED_WORKSPACE), "-h", "127.0.0.1",
                  "-p", str(port)], env, log)
    daemon = _start([str(bin_dir / "dagster-daemon"), "run", "-w", str(SHIPPED_WORKSPACE)], env, log)
    daemons = [daemon]
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    try:
        wait_for(lambda: http_ok(f"{url}/server_info"), 120, "the Dagster webserver", every_s=0.5)
        with BackfillClient(url) as client:
            backfill_id = client.launch(SITES, DAYS[0], DAYS[-1])

            # 1. The daemon dies mid-backfill (SIGKILL, its process only) and is restarted.
            done_at_kill = wait_for(lambda: 1 <= len(a := _archives(storage)) < len(DAYS) * len(SITES) and a,
                                    150, "some but not all archives", every_s=0.2)
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=10)
            time.sleep(2)
            daemon = _start([str(bin_dir / "dagster-daemon"), "run", "-w", str(SHIPPED_WORKSPACE)], env, log)
            daemons.append(daemon)

            # 2. A STARTED run of the backfill loses its worker (SIGKILL, mid-run).
            def started_run_with_pid():
                for rec in instance.get_run_records(dg.RunsFilter(
                        statuses=[dg.DagsterRunStatus.STARTED], tags={"dagster/backfill": backfill_id})):
                    if (pid := _run_pid(instance, rec.dagster_run.run_id)) is not None:
                        return rec.dagster_run, pid
                return None

            victim, pid = wait_for(started_run_with_pid, 150, "a STARTED backfill run with its worker pid", every_s=0.1)
            os.kill(pid, signal.SIGKILL)
            worker_killed = time.monotonic()
            failed = wait_for(
                lambda: (r := instance.get_run_by_id(victim.run_id)).status != dg.DagsterRunStatus.STARTED and r,
                DEAD_RUN_BOUND_S, "the killed run to leave STARTED", every_s=0.1)
            detected_s = time.monotonic() - worker_killed
            assert failed.status == dg.DagsterRunStatus.FAILURE, failed.status

            status = wait_for(lambda: (s := client.status(backfill_id)).done and s, 240, "the backfill", every_s=1)
        total_s = time.monotonic() - t0
        assert status.succeeded, status
        assert status.per_asset["archived_site_day"]["materialized"] == len(DAYS) * len(SITES), status

        # The killed run was retried by the daemon, and the retry succeeded.
        retries = instance.get_run_records(dg.RunsFilter(tags={"dagster/parent_run_id": victim.run_id}))
        assert [r.dagster_run.status for r in retries] == [dg.DagsterRunStatus.SUCCESS], retries
        retry = retries[0].dagster_run
        assert retry.tags.get("dagster/retry_number") == "1", retry.tags
        events = instance.all_logs(victim.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        failure_text = (events[0].message if events else "")[:160]
        # Every failed run of the backfill (the killed worker's, and any the daemon's death
        # failed) was retried by the daemon, and its retry succeeded.
        failed_runs = {r.dagster_run.run_id: _failure_text(instance, r.dagster_run.run_id)
                       for r in instance.get_run_records(dg.RunsFilter(
                           statuses=[dg.DagsterRunStatus.FAILURE], tags={"dagster/backfill": backfill_id}))}
        print("failed backfill runs:", failed_runs)
        for run_id in failed_runs:
            children = instance.get_run_records(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
            assert dg.DagsterRunStatus.SUCCESS in [c.dagster_run.status for c in children], (run_id, failed_runs[run_id])
        nothing_started = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert not [r for r in nothing_started if r.dagster_run.tags.get("dagster/backfill") == backfill_id]

        # Every site-day archived once, exactly the simulator's samples, no duplicate rows.
        assert len(_archives(storage)) == len(DAYS) * len(SITES)
        for site in SITES:
            for day in DAYS:
                uri = storage.uri(archive_key(site, day))
                with duckdb_connect(storage) as con:
                    rows, distinct = con.execute(
                        "SELECT count(*), count(DISTINCT (point, ts)) FROM read_parquet($u, hive_partitioning=false)",
                        {"u": uri}).fetchone()
                    got = con.execute("SELECT point, ts, value FROM read_parquet($u, hive_partitioning=false)",
                                      {"u": uri}).df()
                assert rows == distinct > 0, f"{site} {day}: {rows} rows, {distinct} distinct (point, ts)"
                assert_same_samples(got, samples_from_mapping(expected_archive(ace_sim.site(site), day)),
                                    label=f"{site} {day}")

        # How often each partition was materialized, from the event log.
        per_partition = _materializations(instance, "archived_site_day")
        keys = {str(site_day_key(s, d)) for s in SITES for d in DAYS}
        assert set(per_partition) == keys
        counts = Counter(per_partition.values())
        again = sorted(k for k, n in per_partition.items() if n > 1)
        runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        print(f"archives at daemon kill: {len(done_at_kill)}; dead run detected in {detected_s:.2f} s; "
              f"materializations per partition {dict(counts)} (again: {again}); backfill runs {len(runs)}; "
              f"total {total_s:.0f} s")
        # A partition materialized twice is the retried run's re-execution from the failure:
        # it wrote the same content (checked above against the simulator).
        assert all(n == 1 or k == victim.tags.get("dagster/partition") for k, n in per_partition.items()), per_partition
    except BaseException:
        print(log.read_text(errors="replace")[-8000:])
        raise
    finally:
        for proc in [web, *daemons]:
            _stop(proc)
        instance.dispose()

    reliability.record(
        fault="dagster-daemon SIGKILLed mid-backfill (10 site-days), restarted 2 s later",
        component="orchestrator (Dagster daemon)",
        system_did=f"{len(done_at_kill)} of 10 archives stored at the kill; after the restart the backfill completed "
                   f"(status {status.status}, {len(runs)} runs of which {len(failed_runs)} failed and were re-run by "
                   f"run retries, {total_s:.0f} s in all); materializations per partition: {dict(counts)}",
        lost="nothing: 10 archives, each equal to the simulator's samples, no duplicate rows",
    )
    reliability.record(
        fault="a backfill run's worker process SIGKILLed mid-run",
        component="orchestrator (run worker)",
        system_did=f"run marked FAILURE {detected_s:.1f} s after the kill ({failure_text!r}); run retries launched "
                   f"retry {retry.run_id[:8]}, which succeeded",
        lost="nothing: the partition's archive equals the simulator's samples, no duplicate rows",
    )


def test_deploy_instances_carry_the_same_monitoring_and_retries():
    """deploy/dagster.yaml and the Helm values keep the shipped run monitoring, run retries and
    (fast: reads the files only; the run queue limits are compared by test_postgres_instance)."""
    shipped = yaml.safe_load(SHIPPED_DAGSTER_YAML.read_text())
    deploy = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    helm = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    assert deploy["run_monitoring"] == shipped["run_monitoring"]
    assert deploy["run_retries"] == shipped["run_retries"]
    # The chart would render its own (partial) keys: they are off, the whole settings are appended.
    assert helm["dagsterDaemon"]["runMonitoring"]["enabled"] is False
    assert helm["dagsterDaemon"]["runRetries"]["enabled"] is False
    assert helm["additionalInstanceConfig"]["run_monitoring"] == shipped["run_monitoring"]
    assert helm["additionalInstanceConfig"]["run_retries"] == shipped["run_retries"]
