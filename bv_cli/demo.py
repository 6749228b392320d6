"""`bv demo`: the embedded default, end to end, on a fresh machine.

Starts the ACE simulator on loopback, points the pipeline at it with local storage,
materializes a demo backfill through Dagster (real runs on the DAGSTER_HOME instance),
prints what was archived, then serves the Dagster UI until Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

import httpx

from bv_cli.home import dagster_dev_command, ensure_dagster_home
from bv_config.settings import DEFAULT_SITES, bv_home


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, what: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout_s:.0f}s")


def start_simulator(port: int, token: str) -> tuple[subprocess.Popen, str]:
    if not _port_free(port):
        port = _free_port()
    env = {**os.environ, "ACE_API_KEY": token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bv_sim", "--host", "127.0.0.1", "--port", str(port), "--sites", "demo"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _wait_for(f"http://127.0.0.1:{port}/_sim/state", "the ACE simulator", proc)
    return proc, f"http://127.0.0.1:{port}/api"


def print_sample_query(site: str) -> None:
    """One query through the engine, as a chart would ask: the last 24 h of a point, hourly."""
    from datetime import datetime, timezone

    from bv_query import QueryEngine

    engine = QueryEngine.from_settings()
    points = [p for p in engine.search_points(site, "zone temp")][:1] or engine.search_points(site)[:1]
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    result = engine.query(site, [points[0].name], end - timedelta(hours=24), end, interval="1h", agg="avg")
    frame = result.to_pandas()
    print(f"\nquery: {points[0].display_name} ({points[0].name}), last 24 h hourly avg")
    print(frame.tail(6).to_string(index=False))
    meta = result.metadata
    print(f"{meta['rows']} rows from {meta['source']} ({meta['days_archived']} archived days, {meta['days_live']} live), "
          f"{meta['files_read']} files, {meta['query_time_ms']} ms")


def run_demo(days: int = 3, ui: bool = True, port: int = 3000, sim_port: int = 8765) -> int:
    token = secrets.token_urlsafe(32)  # a throwaway token shared by the simulator and the client
    sim, api_base = start_simulator(sim_port, token)
    children = [sim]
    try:
        os.environ.update({"ACE_API_BASE": api_base, "ACE_API_KEY": token})
        os.environ.setdefault("BV_SITES", ",".join(DEFAULT_SITES))
        os.environ.setdefault("BV_STORAGE_URL", str(bv_home() / "storage"))
        end = datetime.now(timezone.utc).date() - timedelta(days=1)
        start = end - timedelta(days=days - 1)
        # The date partitions start where the demo's data starts, so the UI's "% filled" and
        # "missing" describe the demo rather than years nobody imported.
        os.environ.setdefault("BV_START_DATE", start.isoformat())
        home = ensure_dagster_home()
        print(f"ACE simulator  {api_base}")
        print(f"storage        {os.environ['BV_STORAGE_URL']}")
        print(f"DAGSTER_HOME   {home}")

        import dagster as dg

        from bv_assets.definitions import build_defs
        from bv_assets.runner import materialize_rollups, materialize_site_days, sync_sites
        from bv_cli.status import print_archive_summary
        from bv_config.settings import Settings

        settings = Settings.load()
        defs = build_defs(settings)
        start = max(start, date.fromisoformat(settings.start_date))
        print(f"\nmaterializing {len(settings.sites)} sites x {days} days ({start} .. {end}) through Dagster")
        with dg.DagsterInstance.get() as instance:
            outcomes = materialize_site_days(instance, defs, settings.sites, start, end, settings=settings)
            months = sorted({start.strftime("%Y-%m"), end.strftime("%Y-%m")})
            print("\nhourly rollups, then one live-sync tick (today so far) per site")
            outcomes += materialize_rollups(instance, defs, settings.sites, months)
            outcomes += sync_sites(instance, defs, settings.sites, settings=settings)
        failed = [o for o in outcomes if not o.success]
        print()
        print_archive_summary(settings)
        print_sample_query(settings.sites[0])
        print()
        from argparse import Namespace

        from bv_cli.health import run_health

        run_health(Namespace(site=settings.sites[0], date=end.isoformat(), json=False, limit=5))
        if failed:
            print(f"\n{len(failed)} runs failed: " + ", ".join(o.what for o in failed), file=sys.stderr)
            return 1
        if not ui:
            return 0
        ui_proc = subprocess.Popen(dagster_dev_command(sys.executable, "127.0.0.1", port), env=os.environ.copy())
        children.append(ui_proc)
        api_port = port + 1 if _port_free(port + 1) else _free_port()
        api_proc = subprocess.Popen([sys.executable, "-m", "bv_cli.main", "serve", "--port", str(api_port), "--log-level", "warning"],
                                    env=os.environ.copy())
        children.append(api_proc)
        _wait_for(f"http://127.0.0.1:{port}/server_info", "the Dagster UI", ui_proc, timeout_s=180)
        _wait_for(f"http://127.0.0.1:{api_port}/health", "the query API", api_proc, timeout_s=60)
        print(f"\nDagster UI: http://127.0.0.1:{port}  (assets, partitions, checks, runs, schedules; live sync ticks every 5 min)")
        print(f"Charts + query API: http://127.0.0.1:{api_port}  (Ctrl-C stops both)")
        ui_proc.wait()
        return ui_proc.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in reversed(children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc is not sim else signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
