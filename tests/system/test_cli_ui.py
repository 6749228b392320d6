"""`bv ui` stopped as systemd or Docker stop it (SIGTERM to the `bv` process alone) exits
within 15 s and leaves no webserver, daemon, code server or `dagster api grpc` behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from support.ports import free_port
from support.waiting import http_ok, wait_for

pytestmark = pytest.mark.slow


def _left_behind(marker: str) -> list[str]:
    out = []
    for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
        try:
            text = " ".join(proc.info["cmdline"] or [])
            env = proc.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker in text or env.get("DAGSTER_HOME", "") == marker:
            out.append(f"{proc.info['pid']}: {text[:120]}")
    return out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_bv_ui_stops_whole_on_a_signal(ace_sim, sim_token, tmp_path, signum):
    port = free_port()
    home = str(tmp_path / "dagster_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "DAGSTER_"))}
    env.update(ACE_API_BASE=ace_sim.base_url, ACE_API_KEY=sim_token, BV_SITES="demo_office",
               BV_STORAGE_URL=str(tmp_path / "storage"), DAGSTER_HOME=home)
    ui = subprocess.Popen([sys.executable, "-m", "bv_cli.main", "ui", "--port", str(port)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/server_info"), 180, "the Dagster webserver")
        assert len(_left_behind(home)) >= 3  # webserver, daemon, code server: the marker finds them
        ui.send_signal(signum)  # the bv process only, as a service manager does
        started = time.monotonic()
        ui.wait(timeout=30)
        took = time.monotonic() - started
        wait_for(lambda: not _left_behind(home), 5, "the process group to be gone", every_s=0.5)
    finally:
        if ui.poll() is None:
            ui.kill()
        for line in _left_behind(home):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
    assert took <= 15, f"bv ui took {took:.1f}s to stop"
