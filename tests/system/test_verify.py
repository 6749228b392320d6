"""Re-checking stored data without ACE: `bv verify` on a clean and a corrupted store,
catalog lineage, the rollup's reconciliation, and the live release's value check."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from support.fixtures_pipeline import TEST_DAY
from test_cli_materialize import cli_env, run_bv  # noqa: F401 (fixture)

from bv_ace.client import AceClient
from bv_pipeline.archive_checks import Thresholds
from bv_pipeline.catalog_refresh import refresh_catalog
from bv_pipeline.live_sync import release_live_day
from bv_pipeline.rollup_build import build_month_rollup
from bv_pipeline.rollup_checks import check_rollup
from bv_pipeline.verify_store import diff_against_ace, verify_stored
from bv_store.duckdb_conn import duckdb_connect
from bv_store.layout import archive_key, live_part_key, points_key, rollup_key
from bv_store.publish import publish
from bv_store.schemas import PARQUET_OPTIONS
from bv_store.storage import Storage

SITE = "demo_office"
LABEL = f"{TEST_DAY.isoformat()}|{SITE}"


def _rewrite(storage, key, change):
    with storage.local_copy(key) as path:
        table = pq.read_table(path)
    table = change(table)
    publish(storage, key, lambda p: pq.write_table(table, p, **PARQUET_OPTIONS))


def test_bv_verify_passes_a_clean_store_and_names_a_truncated_file(cli_env):  # noqa: F811
    day = TEST_DAY.isoformat()
    assert run_bv(["materialize", "--sites", SITE, "--start", day], cli_env).returncode == 0
    clean = run_bv(["verify", "--sites", SITE, "--start", day], cli_env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"ok     archived_site_day  {LABEL}  8 checks passed" in clean.stdout
    storage = Storage.from_url(cli_env["BV_STORAGE_URL"])
    path = storage.root / archive_key(SITE, TEST_DAY)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a torn file, as a crash would leave
    broken = run_bv(["verify", "--sites", SITE, "--start", day], cli_env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    line = next(x for x in broken.stdout.splitlines() if x.startswith("FAILED archived_site_day"))
    assert LABEL in line and "cannot be read" in line


def test_points_in_catalog_checks_the_version_the_archive_was_built_from(local_pipeline, sim_token):
    pipe = local_pipeline
    assert pipe.catalog(SITE).success and pipe.site_day(SITE).success
    store = pipe.storage
    # The catalog changes later (a point removed): the archive is still judged by its own version.
    _rewrite(store, points_key(SITE), lambda t: t.slice(1))
    with duckdb_connect(store) as con:
        verdicts = verify_stored(store, [SITE], TEST_DAY, TEST_DAY, Thresholds(), connect=duckdb_connect)
    assert not verdicts[0].failed, verdicts[0].line()
    # A point the recorded catalog never had fails it, by name.
    _rewrite(store, archive_key(SITE, TEST_DAY), lambda t: t.set_column(
        0, "point", pa.array(["ghost/point"] + t.column("point").to_pylist()[1:], pa.string())))
    verdict = verify_stored(store, [SITE], TEST_DAY, TEST_DAY, Thresholds())[0]
    failed = {o.name: o.description for o in verdict.failed}
    assert "points_in_catalog" in failed and "ghost/point" in failed["points_in_catalog"]
    assert LABEL in failed["points_in_catalog"]


def test_rollup_check_fails_on_a_changed_hour(local_pipeline):
    pipe = local_pipeline
    assert pipe.catalog(SITE).success and pipe.site_day(SITE).success
    store, month = pipe.storage, f"{TEST_DAY:%Y-%m}"
    build_month_rollup(store, SITE, month)
    with duckdb_connect(store) as con:
        assert check_rollup(store, con, SITE, month).passed

    def bump_first_max(t):
        highs = t.column("max").to_pylist()
        highs[0] += 0.5
        return t.set_column(t.schema.get_field_index("max"), "max", pa.array(highs, pa.float64()))

    key = rollup_key(SITE, month)
    with store.local_copy(key) as path:
        meta = pq.ParquetFile(path).schema_arrow.metadata
        table = pq.read_table(path)
    table = bump_first_max(table).replace_schema_metadata(meta)
    publish(store, key, lambda p: pq.write_table(table, p))
    with duckdb_connect(store) as con:
        outcome = check_rollup(store, con, SITE, month)
    assert not outcome.passed and f"{month}|{SITE}" in outcome.description
    assert table.column("point")[0].as_py() in outcome.description and "max" in outcome.description


def test_live_release_keeps_files_whose_values_the_archive_does_not_hold(local_pipeline):
    pipe = local_pipeline
    assert pipe.catalog(SITE).success and pipe.site_day(SITE).success
    store = pipe.storage
    with store.local_copy(archive_key(SITE, TEST_DAY)) as path:
        sample = pq.read_table(path).slice(0, 5)
    same = sample.set_column(0, "point", sample.column("point").cast(pa.string()))
    changed = same.set_column(2, "value", pa.array([v + 1 for v in same.column("value").to_pylist()], pa.float64()))
    end_us = 1
    key = live_part_key(SITE, TEST_DAY, end_us, "abc")
    publish(store, key, lambda p: pq.write_table(changed, p))
    outcome = release_live_day(store, SITE, TEST_DAY)
    assert outcome["live_values_differing"] == 5 and outcome["live_files_removed"] == 0
    assert store.exists(key) and same.column("point")[0].as_py() in outcome["kept"]
    publish(store, key, lambda p: pq.write_table(same, p))
    released = release_live_day(store, SITE, TEST_DAY)
    assert released["live_files_removed"] == 1 and not store.exists(key)


def test_against_ace_diff_sees_a_changed_value(local_pipeline, sim_token):
    pipe = local_pipeline
    assert pipe.catalog(SITE).success and pipe.site_day(SITE).success
    store = pipe.storage
    with AceClient(pipe.sim.base_url, sim_token) as client:
        assert diff_against_ace(client, store, SITE, TEST_DAY).passed
        _rewrite(store, archive_key(SITE, TEST_DAY), lambda t: t.set_column(
            2, "value", pa.array([t.column("value")[0].as_py() + 1] + t.column("value").to_pylist()[1:], pa.float64())))
        outcome = diff_against_ace(client, store, SITE, TEST_DAY)
    assert not outcome.passed and LABEL in outcome.description


def test_an_empty_archive_file_fails_archive_not_empty(local_pipeline):
    pipe = local_pipeline
    assert pipe.catalog(SITE).success and pipe.site_day(SITE).success
    store = pipe.storage
    _rewrite(store, archive_key(SITE, TEST_DAY), lambda t: t.slice(0, 0))
    verdict = verify_stored(store, [SITE], TEST_DAY, TEST_DAY, Thresholds())[0]
    failed = {o.name: o.description for o in verdict.failed}
    assert "archive_not_empty" in failed and failed["archive_not_empty"].startswith(LABEL)


def test_a_day_whose_raw_file_retention_pruned_still_verifies(local_pipeline):
    pipe = local_pipeline
    assert pipe.catalog(SITE).success and pipe.site_day(SITE).success
    store = pipe.storage
    store.delete(f"raw/site={SITE}/date={TEST_DAY.isoformat()}/samples.parquet")
    unpruned = verify_stored(store, [SITE], TEST_DAY, TEST_DAY, Thresholds())[0]
    assert [o.name for o in unpruned.failed] == ["archive_content_matches_raw"]  # no raw, no retention: loud
    pruned = verify_stored(store, [SITE], TEST_DAY, TEST_DAY, Thresholds(raw_pruned_before=TEST_DAY + timedelta(days=1)))[0]
    assert not pruned.failed, pruned.line()
