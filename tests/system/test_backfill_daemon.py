"""A partition backfill launched the way the UI launches it, run by the Dagster daemon.

Starts `bv ui` (dagster dev: webserver + daemon) on a temporary DAGSTER_HOME against the
simulator, lets `sites_sensor` register the sites and fetch their catalogs, then launches
a 2-day x 2-site backfill of raw_site_day + archived_site_day through the GraphQL API
(`bv backfill`) and waits for Dagster to report it complete.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from support.fixtures_pipeline import TEST_DAY

from bv_store.layout import archive_key
from bv_cli.backfill import BackfillClient
from bv_store.storage import Storage
from support.ports import free_port
from support.waiting import http_ok, wait_for

REPO = Path(__file__).resolve().parents[2]
SITES = ["demo_office", "demo_school"]



@pytest.mark.slow
def test_backfill_through_the_daemon_completes(ace_sim, sim_token, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "DAGSTER_"))}
    env.update(
        ACE_API_BASE=ace_sim.base_url,
        ACE_API_KEY=sim_token,
        BV_SITES=",".join(SITES),
        BV_STORAGE_URL=str(tmp_path / "storage"),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
    )
    ui = subprocess.Popen(
        [sys.executable, "-m", "bv_cli.main", "ui", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    storage = Storage.from_url(env["BV_STORAGE_URL"])
    try:
        wait_for(lambda: http_ok(f"{url}/server_info"), 180, "the Dagster webserver")
        # The sensor registers the sites and materializes their catalogs (no code change).
        wait_for(lambda: all(storage.exists(f"points/site={s}/points.parquet") for s in SITES), 240, "sites_sensor")
        with BackfillClient(url) as client:
            backfill_id = client.launch(SITES, TEST_DAY, TEST_DAY + timedelta(days=1))
            status = wait_for(lambda: (s := client.status(backfill_id)).done and s, 420, "the backfill")
        assert status.succeeded, status
        assert status.per_asset["archived_site_day"]["materialized"] == 4
        for site in SITES:
            for day in (TEST_DAY, TEST_DAY + timedelta(days=1)):
                assert storage.exists(archive_key(site, day))
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)

