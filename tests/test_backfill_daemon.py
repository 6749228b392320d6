"""A partition backfill launched the way the UI launches it, run by the Dagster daemon.

Starts `bv ui` (dagster dev: webserver + daemon) on a temporary DAGSTER_HOME against the
simulator, lets `sites_sensor` register the sites and fetch their catalogs, then launches
a 2-day x 2-site backfill of raw_site_day + archived_site_day through the GraphQL API
(`bv backfill`) and waits for Dagster to report it complete.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fixtures_pipeline import TEST_DAY

from bv_assets.layout import archive_key
from bv_cli.backfill import BackfillClient
from bv_resources.storage import Storage

REPO = Path(__file__).resolve().parents[1]
SITES = ["demo_office", "demo_school"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


@pytest.mark.slow
def test_backfill_through_the_daemon_completes(ace_sim, sim_token, tmp_path):
    port = _free_port()
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
        _wait(lambda: _ok(f"{url}/server_info"), 180, "the Dagster webserver")
        # The sensor registers the sites and materializes their catalogs (no code change).
        _wait(lambda: all(storage.exists(f"points/site={s}/points.parquet") for s in SITES), 240, "sites_sensor")
        with BackfillClient(url) as client:
            backfill_id = client.launch(SITES, TEST_DAY, TEST_DAY + timedelta(days=1))
            status = _wait(lambda: (s := client.status(backfill_id)).done and s, 420, "the backfill")
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


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
