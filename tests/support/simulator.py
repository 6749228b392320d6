"""The one simulator launcher for a separate process (benchmarks, where the simulator's CPU
must not be the measured process's); the suite's fixtures run `SimServer` in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from support.ports import free_port


def start_sim_process(token: str, *sim_args: str, timeout_s: float = 20) -> tuple[subprocess.Popen, str]:
    """`python -m bv_sim --port P *sim_args` with `token`; returns (process, API base URL)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bv_sim", "--port", str(port), *sim_args],
        env={**os.environ, "ACE_API_KEY": token},
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the simulator exited with {proc.returncode} before answering")
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sim/state", timeout=1)
            return proc, f"http://127.0.0.1:{port}/api"
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the simulator did not answer on port {port} within {timeout_s:.0f}s")
