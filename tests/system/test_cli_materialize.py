"""`bv materialize` as an operator runs it: a subprocess on a DAGSTER_HOME instance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from support.fixtures_pipeline import TEST_DAY, failure_messages, pipeline_for

from bv_store.layout import archive_key, points_key
from bv_store.storage import Storage
from bv_sim.faults import FaultConfig
from bv_sim.sites import PointSpec, SiteSpec

REPO = Path(__file__).resolve().parents[2]


def run_bv(args, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bv_cli.main", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def cli_env(ace_sim, sim_token, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "DAGSTER_"))}
    env.update(
        ACE_API_BASE=ace_sim.base_url,
        ACE_API_KEY=sim_token,
        BV_SITES="demo_office,demo_school",
        BV_STORAGE_URL=str(tmp_path / "storage"),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
    )
    return env


def test_materialize_runs_on_the_instance_and_archives(cli_env):
    day = TEST_DAY.isoformat()
    proc = run_bv(["materialize", "--sites", "demo_office,demo_school", "--start", day], cli_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 of 4 runs succeeded" in proc.stdout
    storage = Storage.from_url(cli_env["BV_STORAGE_URL"])
    for site in ("demo_office", "demo_school"):
        assert storage.exists(archive_key(site, TEST_DAY))
    # The runs live on the DAGSTER_HOME instance (so the UI shows them), and the shipped
    # dagster.yaml (with the ace_api pool limit) was installed there.
    home = Path(cli_env["DAGSTER_HOME"])
    assert "default_limit" in (home / "dagster.yaml").read_text()
    os.environ["DAGSTER_HOME"], saved = str(home), os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            assert set(instance.get_dynamic_partitions("site")) == {"demo_office", "demo_school"}
            assert len(instance.get_run_records()) == 4
    finally:
        if saved is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = saved


def test_materialize_exits_non_zero_with_the_error_when_the_token_is_rejected(cli_env, ace_sim, sim_token):
    ace_sim.set_faults(FaultConfig(reject_token=True))
    proc = run_bv(["materialize", "--sites", "demo_office", "--start", TEST_DAY.isoformat()], cli_env)
    assert proc.returncode == 1
    output = proc.stdout + proc.stderr
    assert "rejected the API token" in output and "demo_office" in output
    assert sim_token not in output
    assert not Path(cli_env["BV_STORAGE_URL"], "archive").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--start", "2024-01-01"], "before BV_START_DATE"),
        (["--start", "2999-01-01"], "not a closed UTC day"),
        (["--start", "2025-06-03", "--end", "2025-06-01"], "before start"),
        (["--start", "2025-06-03", "--sites", "bad/site"], "invalid site name"),
    ],
)
def test_materialize_rejects_bad_arguments_clearly(cli_env, args, message):
    proc = run_bv(["materialize", *args], cli_env)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_a_site_without_configured_points_fails_and_says_so(make_ace_sim, sim_token, local_storage, monkeypatch):
    site = SiteSpec(name="empty_site", points=[PointSpec(path="dev/ai:1", collect_enabled=False)])
    sim = make_ace_sim(sites=[site])
    with pipeline_for(sim, sim_token, local_storage, monkeypatch) as pipeline:
        result = pipeline.catalog("empty_site")
    assert not result.success
    text = " ".join(failure_messages(result))
    assert "none collect-enabled" in text and "empty_site" in text
    assert not local_storage.exists(points_key("empty_site"))
