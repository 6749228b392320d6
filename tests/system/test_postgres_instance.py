"""The shipped PostgreSQL instance (deploy/dagster.yaml) runs the real platform.

A real PostgreSQL 15 (fixtures_postgres) holds Dagster's run, event-log and schedule storage.
`bv ui` (dagster dev: webserver + daemon) runs on a DAGSTER_HOME holding deploy/dagster.yaml
against the simulator: `sites_sensor` ticks and registers the site, a 1-day x 1-site
backfill launched the way the UI launches it completes, and its runs are rows in PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from support.fixtures_pipeline import TEST_DAY
from support.ports import free_port
from support.waiting import http_ok, wait_for

from bv_store.layout import archive_key
from bv_assets.partitions import SITE_PARTITIONS_NAME
from bv_cli.backfill import BackfillClient
from bv_store.storage import Storage

REPO = Path(__file__).resolve().parents[2]
SITE = "demo_office"


def _sensor_ticks(instance: dg.DagsterInstance, name: str) -> list:
    """Ticks of sensor `name` as stored in the instance (here: PostgreSQL's job_ticks)."""
    ticks = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == name:
            ticks += instance.get_ticks(state.instigator_origin_id, state.selector_id)
    return ticks


@pytest.mark.slow
def test_postgres_instance_runs_sensor_and_backfill(ace_sim, sim_token, postgres_server, tmp_path, monkeypatch):
    dbname = postgres_server.create_database(f"dagster_{secrets.token_hex(4)}")  # a fresh database per test
    pg_env = {**postgres_server.env(), "DAGSTER_PG_DB": dbname}
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")  # `bv` keeps an existing one

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "DAGSTER_"))}
    env.update(pg_env, ACE_API_BASE=ace_sim.base_url, ACE_API_KEY=sim_token, BV_SITES=SITE,
               BV_STORAGE_URL=str(tmp_path / "storage"), DAGSTER_HOME=str(home))
    log = (tmp_path / "ui.log").open("w")
    ui = subprocess.Popen([sys.executable, "-m", "bv_cli.main", "ui", "--port", str(port)],
                          cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    storage = Storage.from_url(env["BV_STORAGE_URL"])
    for name, value in pg_env.items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.from_config(str(home))  # the same PostgreSQL, read from here
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
        wait_for(lambda: http_ok(f"{url}/server_info"), 180, "the Dagster webserver")

        # The daemon ticks sites_sensor: it registers the site and requests its catalog run.
        ticks = wait_for(lambda: [t for t in _sensor_ticks(instance, "sites_sensor") if t.status == TickStatus.SUCCESS],
                      240, "a successful sites_sensor tick in PostgreSQL")
        assert any(f"catalog-{SITE}" in t.run_keys for t in ticks), [t.run_keys for t in ticks]
        assert SITE in instance.get_dynamic_partitions(SITE_PARTITIONS_NAME)
        wait_for(lambda: storage.exists(f"points/site={SITE}/points.parquet"), 240, "the catalog run")

        with BackfillClient(url) as client:
            backfill_id = client.launch([SITE], TEST_DAY, TEST_DAY)
            status = wait_for(lambda: (s := client.status(backfill_id)).done and s, 420, "the backfill")
        assert status.succeeded, status
        assert status.per_asset["archived_site_day"]["materialized"] == 1
        assert storage.exists(archive_key(SITE, TEST_DAY))

        key = f"{TEST_DAY.isoformat()}|{SITE}"
        with psycopg.connect(postgres_server.dsn_for(dbname)) as conn:
            runs = conn.execute("SELECT run_id, status FROM runs WHERE backfill_id = %s", (backfill_id,)).fetchall()
            tags = dict(conn.execute(
                "SELECT key, value FROM run_tags WHERE run_id = %s", (runs[0][0],)).fetchall()) if runs else {}
            catalog = conn.execute(
                "SELECT r.status FROM runs r JOIN run_tags t ON t.run_id = r.run_id"
                " WHERE t.key = 'dagster/run_key' AND t.value = %s", (f"catalog-{SITE}",)).fetchall()
            materialized = conn.execute(
                "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                " AND asset_key = %s AND partition = %s", ('["archived_site_day"]', key)).fetchone()[0]
        # One run for the one site-day, its partition in its tags.
        assert [s for _, s in runs] == ["SUCCESS"], runs
        assert tags.get("dagster/partition") == key, tags
        assert catalog == [("SUCCESS",)], catalog  # the catalog run sites_sensor requested
        assert materialized == 1  # events reach PostgreSQL too
    except BaseException:
        log.flush()
        print((tmp_path / "ui.log").read_text(errors="replace")[-6000:])
        raise
    finally:
        instance.dispose()
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
        log.close()


def test_deploy_limits_match_the_shipped_instance():
    """deploy/dagster.yaml and the Helm values keep bv_cli/shipped/dagster.yaml's run queue and pool,
    and the Helm values hold no secret values (those come from Kubernetes Secrets only)."""
    shipped = yaml.safe_load((REPO / "bv_cli" / "shipped" / "dagster.yaml").read_text())["concurrency"]
    deploy = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    helm = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    assert deploy["concurrency"] == shipped
    assert helm["concurrency"]["pools"]["defaultLimit"] == shipped["pools"]["default_limit"]
    assert helm["concurrency"]["runs"]["maxConcurrentRuns"] == shipped["runs"]["max_concurrent_runs"]
    assert helm["concurrency"]["runs"]["tagConcurrencyLimits"] == shipped["runs"]["tag_concurrency_limits"]
    assert deploy["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    (code,) = helm["dagster-user-deployments"]["deployments"]
    assert code["dagsterApiGrpcArgs"] == ["-m", "bv_assets.definitions"]
    assert not {"ACE_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(code["env"])
    assert code["envSecrets"] and helm["postgresql"]["postgresqlPassword"] == ""
