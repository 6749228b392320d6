"""D and E: `bv serve` started for real; wrk (a separate process) drives D.

D: A (1 point x 24 h raw) through `bv serve --workers 2` with 16 concurrent connections,
each request a different point (a Lua script rotates through every point of the site).
E: process start to the first 200 answer to a query of a freshly started `bv serve`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _env(storage_root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "BV_API_KEYS"}  # the open API, as embedded
    env["BV_STORAGE_URL"] = str(storage_root)
    return env


def _serve(storage_root: Path, port: int, workers: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bv_cli.main", "serve", "--port", str(port), "--workers", str(workers),
                             "--no-access-log", "--log-level", "warning"], env=_env(storage_root), cwd=ROOT,
                            stdout=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def query_path(site: str, point: str, start_ms: int, end_ms: int) -> str:
    return (f"/timeseries/query?site_name={site}&start_time={start_ms}&end_time={end_ms}"
            f"&point_names={urllib.parse.quote(point, safe='')}")


def first_answer_s(storage_root: Path, path: str, runs: int = 3) -> float:
    """E: median seconds from Popen to the first 200 answer of `path`."""
    from support.ports import free_port

    samples = []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        proc = _serve(storage_root, port, 1)
        try:
            deadline = started + 60
            while True:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)
                    if r.status_code == 200 and r.json().get("samples"):
                        break
                    raise SystemExit(f"E: first answer was HTTP {r.status_code}: {r.text[:300]}")
                except httpx.TransportError:
                    if time.perf_counter() > deadline or proc.poll() is not None:
                        raise SystemExit("E: bv serve did not answer within 60 s") from None
                    time.sleep(0.005)
            samples.append(time.perf_counter() - started)
        finally:
            _stop(proc)
    return statistics.median(samples)


def wrk_rate(storage_root: Path, paths: list[str], seconds: int = 10, connections: int = 16) -> tuple[float, float, str]:
    """D: (req/s, p99 ms, wrk's output) through `bv serve --workers 2`."""
    from support.ports import free_port

    if not shutil.which("wrk"):
        raise SystemExit("D needs wrk: apt-get install wrk (the load must come from outside Python)")
    port = free_port()
    proc = _serve(storage_root, port, 2)
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        check = httpx.get(f"http://127.0.0.1:{port}{paths[0]}", timeout=30)
        if check.status_code != 200 or not check.json()["samples"]:
            raise SystemExit(f"D: HTTP check failed: {check.status_code} {check.text[:300]}")
        body = ",\n".join('"' + p + '"' for p in paths)
        script.write_text(f"paths = {{{body}}}\ncounter = 0\n"
                          "setup = function(thread) thread:set('offset', counter * 7919); counter = counter + 1 end\n"
                          "local i = 0\nrequest = function() i = i + 1\n"
                          "  return wrk.format('GET', paths[((i + (offset or 0)) % #paths) + 1]) end\n")
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
                              "-s", str(script), f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
        if "Non-2xx" in out:
            raise SystemExit(f"D: wrk saw non-2xx answers:\n{out}")
        rate = float(out.split("Requests/sec:")[1].split()[0])
        p99 = out.split("99%")[1].split()[0]
        scale = 1 / 1000 if p99.endswith("us") else 1000 if p99.endswith("s") and not p99.endswith("ms") else 1
        return rate, float(p99.rstrip("mus")) * scale, out
    finally:
        script.unlink(missing_ok=True)
        _stop(proc)
