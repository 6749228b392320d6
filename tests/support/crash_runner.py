"""The crash-point scenario: one small simulated site, a stored state built from it, and the
writers run against that state — in a child process that a crash point kills
(`run_child`), and in the test process for the clean run and the re-run (`run_action`).

The child is forked from a forkserver that has already imported the pipeline, so a case costs
a fork instead of a fresh interpreter; it is still a real process that `os._exit` really ends.

Stored state before every action (`build_base`), site `crash_site`, sim clock `NOW`:
    points/…/points.parquet        a reduced catalog (the simulator's minus one point), its version
    raw + archive  D1              the whole day;  live parts of D1 (2, not yet released)
    raw + archive  D2              only until 12:00 (archived early; the day is late data)
    rollup 2025-06                 built from D1 only (so stale for D2)
    live D3                        12 parts (one more triggers compaction), cursor at D3 01:00
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import date, datetime, timedelta, timezone

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from bv_ace.client import AceClient
from bv_pipeline.archive_build import build_archive
from bv_pipeline.catalog_refresh import catalog_rows, refresh_catalog
from bv_pipeline.live_sync import release_live_day, sync_site
from bv_pipeline.maintenance import prune_raw_zone
from bv_pipeline.raw_ingest import ingest_site_day
from bv_pipeline.rollup_build import build_month_rollup
from bv_store.catalog import read_catalog_names, snapshot_catalog
from bv_store.layout import points_key
from bv_store.publish import publish
from bv_store.schemas import CATALOG_SCHEMA
from bv_store.storage import Storage

SITE = "crash_site"
D1, D2, D3 = date(2025, 6, 2), date(2025, 6, 3), date(2025, 6, 4)
MONTH = "2025-06"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(hours=hour, minutes=minute)


NOW = at(D3, 1, 5)  # every action runs at this time (sim clock and `now`)


def sim_site():
    from bv_sim.sites import SiteSpec

    return SiteSpec(name=SITE, client="bvcrash", n_points=4, interval_s=300)


def ace_client(base_url: str, token: str) -> AceClient:
    # Plain HTTP on loopback: no CA bundle to load, no pacing (each child makes a few requests).
    return AceClient(base_url, token, max_retries=1, backoff_base_s=0.05, backoff_max_s=0.1,
                     requests_per_minute=60_000, transport=httpx.HTTPTransport(verify=False))


def build_base(client: AceClient, storage: Storage, clock) -> None:
    """The stored state every case starts from (see the module docstring)."""
    clock.set(at(D1, 22, 30))
    rows = catalog_rows(client.configured_points(SITE))[:-1]  # the refresh will add a point
    table = pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA)
    publish(storage, points_key(SITE), lambda p: pq.write_table(table, p, compression="zstd"), expect_rows=len(rows))
    names, _ = snapshot_catalog(storage, SITE)
    sync_site(client, storage, SITE, names, now=at(D1, 22, 30))
    clock.set(at(D1, 23))
    sync_site(client, storage, SITE, names, now=at(D1, 23))
    clock.set(at(D2, 12))
    ingest_site_day(client, storage, SITE, D1)
    build_archive(storage, SITE, D1, names)
    build_month_rollup(storage, SITE, MONTH)
    ingest_site_day(client, storage, SITE, D2)
    build_archive(storage, SITE, D2, names)
    for k in range(1, 13):
        clock.set(at(D3, 0, 5 * k))
        sync_site(client, storage, SITE, names, now=at(D3, 0, 5 * k))
    clock.set(NOW)


def _site_day(client, storage):
    ingest_site_day(client, storage, SITE, D2)
    names, _ = snapshot_catalog(storage, SITE)  # as the archived_site_day asset does
    build_archive(storage, SITE, D2, names)


# action -> (what it runs, the key prefixes it may change)
ACTIONS = {
    "catalog": (lambda c, s: refresh_catalog(c, s, SITE), ["points/"]),
    "site_day": (_site_day, [f"raw/site={SITE}/date={D2}/", f"archive/site={SITE}/date={D2}/", "points/"]),
    "live": (lambda c, s: sync_site(c, s, SITE, read_catalog_names(s, SITE), now=NOW),
             [f"live/site={SITE}/date={D3}/", "state/"]),
    "rollup": (lambda c, s: build_month_rollup(s, SITE, MONTH), ["rollup/"]),
    "release": (lambda c, s: release_live_day(s, SITE, D1), [f"live/site={SITE}/date={D1}/"]),
    "retention": (lambda c, s: prune_raw_zone(s, 0, D3), ["raw/"]),
}

_STEPS = ("scratch_written", "verified", "put_incomplete", "published")
# Every crash point an action passes, in the order it passes them.
POINTS_BY_ACTION = {
    "catalog": [*(f"catalog.{s}" for s in _STEPS), "catalog.before_version",
                *(f"catalog_version.{s}" for s in _STEPS)],
    "site_day": ["raw.mid_stream", *(f"raw.{s}" for s in _STEPS), *(f"archive.{s}" for s in _STEPS)],
    "live": [*(f"live_part.{s}" for s in _STEPS), "live_sync.parts_published",
             *(f"live_compaction.{s}" for s in _STEPS), "live_compaction.mid_delete", "live_sync.before_cursor",
             *(f"live_cursor.{s}" for s in _STEPS)],
    "rollup": [f"rollup.{s}" for s in _STEPS],
    "release": ["live_release.compared", "live_release.mid_delete"],
    "retention": ["raw_retention.mid_delete"],
}


def run_action(action: str, client: AceClient, storage: Storage) -> None:
    ACTIONS[action][0](client, storage)


def _child(action: str, point: str, storage_url: str, endpoint: str | None, env: dict, ace_base: str,
           token: str, stderr_path: str) -> None:
    fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.environ.update(env)
    os.environ["BV_CRASH_AT"] = point
    storage = Storage.from_url(storage_url, s3_endpoint_url=endpoint)
    with ace_client(ace_base, token) as client:
        run_action(action, client, storage)


PRELOAD = [
    "boto3", "botocore.client", "duckdb", "pyarrow.parquet", "pyarrow.dataset", "pyarrow.compute", "pandas", "httpx", "httpcore", "bv_ace.client", "bv_sim.sites",
    "bv_store.storage", "bv_store.duckdb_conn", "bv_pipeline.archive_build", "bv_pipeline.catalog_refresh",
    "bv_pipeline.live_sync", "bv_pipeline.maintenance", "bv_pipeline.raw_ingest", "bv_pipeline.rollup_build",
]
_context = None


def _forkserver():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        # The forkserver imports these once, so a child starts in milliseconds. Python 3.11's
        # forkserver does not get the test folder on sys.path: name installed modules only.
        # The main module too, else every child would re-run it (under pytest: import pytest).
        _context.set_forkserver_preload(["__main__", *PRELOAD])
    return _context


def run_child(action: str, point: str, storage: Storage, ace_base: str, token: str, stderr_path: str,
              env: dict, *, timeout_s: float = 60) -> int:
    """Run `action` in a child process with BV_CRASH_AT=point; returns its exit code."""
    proc = _forkserver().Process(
        target=_child,
        args=(action, point, storage.url, getattr(storage, "endpoint_url", None), env, ace_base, token, stderr_path),
        name=f"crash-{point}",
    )
    proc.start()
    proc.join(timeout_s)
    if proc.exitcode is None:
        proc.kill()
        proc.join(5)
        raise AssertionError(f"the child running {action} with BV_CRASH_AT={point} did not end in {timeout_s:.0f}s")
    return proc.exitcode
