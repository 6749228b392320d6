"""Run a child in its own process group and take the whole group down with us.

`dagster dev` starts a webserver, a daemon, a code server and `dagster api grpc`; a SIGTERM
to `bv ui` alone (systemd, Docker) would leave them behind. Here SIGTERM/SIGINT are
forwarded to the group as SIGINT (dagster dev's clean shutdown), and whatever is still
running after the grace period is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

GRACE_S = 8.0


def run_as_group(command: list[str], *, env: dict | None = None, grace_s: float = GRACE_S) -> int:
    child = subprocess.Popen(command, env=env, start_new_session=True)
    stopping = {"at": None}

    def forward(signum, _frame):
        if stopping["at"] is None:
            stopping["at"] = time.monotonic()
            _signal_group(child.pid, signal.SIGINT)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopping["at"] is not None and time.monotonic() - stopping["at"] > grace_s:
                    _signal_group(child.pid, signal.SIGKILL)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _stop_stragglers(child.pid, grace_s=3.0)
    return 0 if stopping["at"] is not None else code


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _stop_stragglers(pgid: int, grace_s: float) -> None:
    """The leader may exit before its children: terminate the rest of the group, then kill."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    _signal_group(pgid, signal.SIGKILL)
