"""Live sync, day close and their failure modes, against the real simulator and storage.

The day-boundary test drives the simulator's clock from 23:50 to 00:05 UTC and calls the
plain sync function with that clock as "now"; the Dagster tests run the real assets.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pandas as pd
import pytest
from support.fixtures_pipeline import pipeline_for
from support.oracles import assert_same_samples, samples_from_mapping
from test_pipeline import expected_archive

from bv_store.catalog import read_catalog_names
from bv_store.layout import live_day_prefix
from bv_pipeline.live_sync import read_cursor, sync_site
from bv_assets.partitions import site_day_key
from bv_query import QueryEngine
from bv_ace.client import AceClient
from bv_ace.errors import AceAuthError, AceError
from bv_store.storage import LocalStorage, StorageError
from bv_sim.clock import SimClock
from bv_sim.faults import FaultConfig

SITE = "demo_office"
DAY = date(2025, 6, 3)


def _live_assets(pipe) -> list:
    d = pipe.defs
    return [*d.site_day_assets, d.asset("live_site_samples"), d.checks_of("live_site_samples"),
            d.asset("live_released_site_day")]


def _client(sim, token, **kw) -> AceClient:
    return AceClient(sim.base_url, token, max_retries=kw.pop("max_retries", 2), backoff_base_s=0.05, backoff_max_s=0.1, **kw)


def _query_all(storage, start, end) -> pd.DataFrame:
    names = read_catalog_names(storage, SITE)[:40]
    frame = QueryEngine(storage).query(SITE, names, start, end).to_pandas()
    return frame.sort_values(["point", "ts"], ignore_index=True)


def _expected(sim, start, end) -> dict:
    """Numeric samples of collect-enabled points in [start, end), computed from the simulator."""
    whole = {}
    day = start.date()
    while day <= (end - timedelta(microseconds=1)).date():
        whole.update(expected_archive(sim.site(SITE), day))
        day += timedelta(days=1)
    lo, hi = int(start.timestamp() * 1e6), int(end.timestamp() * 1e6)
    return {k: v for k, v in whole.items() if lo <= k[1] < hi}


def _assert_same_as_simulator(got: pd.DataFrame, sim, start, end, names, label: str) -> None:
    """`got` (queried over [start, end) for `names`) holds exactly the simulator's numeric
    samples of those points in that window: same (point, ts) keys and values."""
    names = set(names)
    want = {k: v for k, v in _expected(sim, start, end).items() if k[0] in names}
    assert want, f"{label}: the simulator has no samples in the window; the comparison would prove nothing"
    assert_same_samples(got, samples_from_mapping(want), label=label)


@pytest.fixture
def clocked(make_ace_sim, sim_token, local_storage, monkeypatch):
    sim = make_ace_sim(clock=SimClock(fixed=datetime(2025, 6, 3, 23, 50, tzinfo=timezone.utc)))
    with pipeline_for(sim, sim_token, local_storage, monkeypatch) as pipe:
        assert pipe.catalog(SITE).success
        yield pipe, sim_token


def test_day_boundary_live_then_close_then_same_answers(clocked):
    pipe, token = clocked
    storage, sim = pipe.storage, pipe.sim
    names = read_catalog_names(storage, SITE)
    with _client(sim, token) as client:
        first = sync_site(client, storage, SITE, names, now=sim.clock.now())
        assert first.rows_written > 0 and first.window_start == datetime(2025, 6, 3, tzinfo=timezone.utc)
        sim.clock.set(datetime(2025, 6, 4, 0, 5, tzinfo=timezone.utc))
        second = sync_site(client, storage, SITE, names, now=sim.clock.now())
    assert second.days == ["2025-06-03", "2025-06-04"] and second.cursor_after > first.cursor_after
    assert second.window_start == first.cursor_after - timedelta(minutes=10)  # overlap re-asked

    start, end = datetime(2025, 6, 3, 23, 0, tzinfo=timezone.utc), datetime(2025, 6, 4, 0, 5, tzinfo=timezone.utc)
    before = _query_all(storage, start, end)
    # live samples visible at once, overlap stored once: exactly the simulator's samples
    _assert_same_as_simulator(before, sim, start, end, names[:40], "live across midnight")
    day_start, day_end = datetime(2025, 6, 3, tzinfo=timezone.utc), datetime(2025, 6, 4, tzinfo=timezone.utc)
    whole_day = _query_all(storage, day_start, day_end)
    _assert_same_as_simulator(whole_day, sim, day_start, day_end, names[:40], "live whole day")

    close = dg.materialize(
        _live_assets(pipe), selection=["raw_site_day", "archived_site_day", "live_released_site_day"],
        partition_key=str(site_day_key(SITE, DAY)), instance=pipe.instance, resources=pipe.resources,
        raise_on_error=False,
    )
    assert close.success
    released = close.asset_materializations_for_node("live_released_site_day")[0].metadata
    assert released["live_files_removed"].value == 2 and released["live_samples_not_in_archive"].value == 0
    assert storage.list(live_day_prefix(SITE, DAY)) == []
    assert storage.list(live_day_prefix(SITE, date(2025, 6, 4)))  # the open day stays live

    after_day = _query_all(storage, day_start, day_end)
    pd.testing.assert_frame_equal(whole_day, after_day)  # so the archive holds the simulator's samples too
    pd.testing.assert_frame_equal(before, _query_all(storage, start, end))


def test_ace_down_for_three_ticks_then_back_leaves_no_gap(clocked):
    pipe, token = clocked
    storage, sim = pipe.storage, pipe.sim
    names = read_catalog_names(storage, SITE)
    sim.clock.set(datetime(2025, 6, 3, 12, 0, tzinfo=timezone.utc))
    with _client(sim, token) as client:
        sync_site(client, storage, SITE, names, now=sim.clock.now())
        cursor = read_cursor(storage, SITE)
        sim.set_faults(FaultConfig(server_error_every=1))
        for tick in range(1, 4):
            sim.clock.set(datetime(2025, 6, 3, 12, 5 * tick, tzinfo=timezone.utc))
            with pytest.raises(AceError):
                sync_site(client, storage, SITE, names, now=sim.clock.now())
            assert read_cursor(storage, SITE) == cursor  # failed ticks never move the cursor
        sim.set_faults(FaultConfig())
        sim.clock.set(datetime(2025, 6, 3, 12, 20, tzinfo=timezone.utc))
        back = sync_site(client, storage, SITE, names, now=sim.clock.now())
    assert back.window_start <= cursor - timedelta(minutes=10)  # the whole missed window
    start, end = datetime(2025, 6, 3, 11, 0, tzinfo=timezone.utc), datetime(2025, 6, 3, 12, 20, tzinfo=timezone.utc)
    got = _query_all(storage, start, end)
    _assert_same_as_simulator(got, sim, start, end, names[:40], "after the outage")


def test_rejected_token_fails_loudly_and_keeps_the_cursor(clocked):
    pipe, token = clocked
    storage, sim = pipe.storage, pipe.sim
    names = read_catalog_names(storage, SITE)
    with _client(sim, token) as client:
        sync_site(client, storage, SITE, names, now=sim.clock.now())
    cursor = read_cursor(storage, SITE)
    sim.set_faults(FaultConfig(reject_token=True))
    with _client(sim, token) as client, pytest.raises(AceAuthError) as info:
        sync_site(client, storage, SITE, names, now=sim.clock.now() + timedelta(minutes=5))
    assert SITE in str(info.value) and token not in str(info.value)
    assert read_cursor(storage, SITE) == cursor


class FailingLiveWrites(LocalStorage):
    """The real local storage, except that publishing a live part fails (disk full, say)."""

    def put_file(self, local_path, key: str) -> int:
        if key.startswith("live/"):
            raise StorageError(f"put {key} into {self.url} failed: [Errno 28] No space left on device")
        return super().put_file(local_path, key)


def test_storage_write_failure_keeps_the_cursor_and_loses_nothing(clocked):
    pipe, token = clocked
    sim = pipe.sim
    failing = FailingLiveWrites(pipe.storage.root)
    names = read_catalog_names(failing, SITE)
    with _client(sim, token) as client:
        with pytest.raises(StorageError, match="No space left"):
            sync_site(client, failing, SITE, names, now=sim.clock.now())
        assert read_cursor(pipe.storage, SITE) is None and pipe.storage.list("live/") == []
        sync_site(client, pipe.storage, SITE, names, now=sim.clock.now())
    start, end = datetime(2025, 6, 3, tzinfo=timezone.utc), sim.clock.now()
    _assert_same_as_simulator(_query_all(pipe.storage, start, end), sim, start, end, names[:40], "after the failed write")


def test_live_sync_run_records_metadata_and_freshness(local_pipeline):
    """A real Dagster run of live_site_samples (simulator in real time) and its freshness check."""
    assert local_pipeline.catalog(SITE).success
    run = dg.materialize(
        _live_assets(local_pipeline), selection=["live_site_samples"], partition_key=SITE, instance=local_pipeline.instance,
        resources=local_pipeline.resources, raise_on_error=False,
    )
    assert run.success
    meta = run.asset_materializations_for_node("live_site_samples")[0].metadata
    assert meta["dagster/row_count"].value > 0 and 0 <= meta["lag_seconds"].value < 600
    assert {"window_start", "window_end", "cursor_after", "points_seen"} <= set(meta)
    checks = run.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("live_is_fresh", True)]
    now = datetime.now(timezone.utc)
    names5 = read_catalog_names(local_pipeline.storage, SITE)[:5]
    got = QueryEngine(local_pipeline.storage).query(SITE, names5, now - timedelta(hours=1), now)
    assert got.metadata["source"] in ("live", "split") and got.metadata["rows"] > 0
    # What the run synced is the simulator's samples of its window [window_start, window_end).
    start, end = (datetime.fromisoformat(meta[k].value) for k in ("window_start", "window_end"))
    synced = QueryEngine(local_pipeline.storage).query(SITE, names5, start, end).to_pandas()
    _assert_same_as_simulator(synced, local_pipeline.sim, start, end, names5, "live_site_samples run")


def test_freshness_check_fails_when_the_newest_sample_is_old(local_pipeline):
    assert local_pipeline.catalog(SITE).success
    local_pipeline = replace(local_pipeline, settings=replace(local_pipeline.settings, freshness_minutes=0.001))
    run = dg.materialize(
        _live_assets(local_pipeline), selection=["live_site_samples"], partition_key=SITE, instance=local_pipeline.instance,
        resources=local_pipeline.resources, raise_on_error=False,
    )
    checks = run.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("live_is_fresh", False)]


def test_many_ticks_are_compacted_and_answers_do_not_change(clocked):
    from bv_pipeline.live_sync import COMPACT_ABOVE_PARTS

    pipe, token = clocked
    storage, sim = pipe.storage, pipe.sim
    names = read_catalog_names(storage, SITE)
    sim.clock.set(datetime(2025, 6, 3, 10, 0, tzinfo=timezone.utc))
    with _client(sim, token) as client:
        for tick in range(COMPACT_ABOVE_PARTS + 2):
            sim.clock.set(datetime(2025, 6, 3, 10, 0, tzinfo=timezone.utc) + timedelta(minutes=5 * tick))
            sync_site(client, storage, SITE, names, now=sim.clock.now())
    parts = storage.list(live_day_prefix(SITE, DAY))
    assert 1 <= len(parts) <= COMPACT_ABOVE_PARTS and any("merged" in p for p in parts)
    start, end = datetime(2025, 6, 3, tzinfo=timezone.utc), sim.clock.now()
    got = _query_all(storage, start, end)
    _assert_same_as_simulator(got, sim, start, end, names[:40], "after compaction")
    assert not got.duplicated(["point", "ts"]).any()
