"""End to end through Dagster: simulator -> ace_points -> raw_site_day -> archived_site_day.

Real materializations on an ephemeral instance, the real simulator on loopback, and both
storage backends (local folder and moto's S3 server). The archive is read back through
DuckDB and compared with what the simulator serves, computed independently here.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow.parquet as pq
import pytest
from support.fixtures_pipeline import TEST_DAY, check_results, failure_messages

from bv_store.days import day_window
from bv_store.layout import archive_key, points_key, raw_key
from bv_store.duckdb_conn import duckdb_connect

STATE = {"true": 1.0, "active": 1.0, "on": 1.0, "false": 0.0, "inactive": 0.0, "off": 0.0}


def expected_archive(site_model, day) -> dict[tuple[str, int], float]:
    """(point, epoch µs) -> value: the simulator's numeric samples of collect-enabled points."""
    configured = {p["name"] for p in site_model.configured_points()}
    start, end = day_window(day)
    out = {}
    for name, value, time in site_model.samples(start, end):
        if name not in configured or value is None:
            continue
        text = value.strip().lower()
        if text in STATE:
            number = STATE[text]
        else:
            try:
                number = float(text)
            except ValueError:
                continue
            if number != number or number in (float("inf"), float("-inf")):
                continue
        ts = datetime.fromisoformat(time).replace(tzinfo=timezone.utc)
        out[(name, int(ts.timestamp() * 1_000_000))] = number
    return out


def read_archive(storage, site, day) -> dict[tuple[str, int], float]:
    with duckdb_connect(storage) as con:
        rows = con.execute(
            f"SELECT point, epoch_us(ts), value FROM read_parquet('{storage.uri(archive_key(site, day))}', hive_partitioning=false)"
        ).fetchall()
    return {(p, t): v for p, t, v in rows}


def test_site_day_archive_equals_simulator_numeric_samples(pipeline):
    site = "demo_office"
    assert pipeline.catalog(site).success
    result = pipeline.site_day(site)
    assert result.success, failure_messages(result)

    expected = expected_archive(pipeline.sim.site(site), TEST_DAY)
    got = read_archive(pipeline.storage, site, TEST_DAY)
    assert len(got) > 1000
    assert got == expected

    checks = check_results(result)
    assert {name for name, (passed, _) in checks.items() if not passed} == set()
    assert len(checks) == 8

    mat = result.asset_materializations_for_node("archived_site_day")[0].metadata
    assert mat["dagster/row_count"].value == len(expected)
    assert mat["raw_rows"].value == mat["dagster/row_count"].value + mat["dropped_total"].value
    assert mat["dropped_not_collected"].value > 0  # the simulator serves points that are not collected

    # The archive is readable in place by the public glob, hive columns included.
    with duckdb_connect(pipeline.storage) as con:
        site_col, day_col, count = con.execute(
            f"SELECT site, date, count(*) FROM read_parquet('{pipeline.storage.uri('archive')}/**/*.parquet', "
            "hive_partitioning=true) GROUP BY ALL"
        ).fetchone()
    assert (site_col, str(day_col), count) == (site, TEST_DAY.isoformat(), len(expected))


def test_rematerializing_is_idempotent(local_pipeline):
    site = "demo_school"
    assert local_pipeline.catalog(site).success
    assert local_pipeline.site_day(site).success
    store = local_pipeline.storage
    first = store.read_bytes(archive_key(site, TEST_DAY))
    result = local_pipeline.site_day(site)
    assert result.success
    assert store.read_bytes(archive_key(site, TEST_DAY)) == first
    meta = result.asset_materializations_for_node("archived_site_day")[0].metadata
    assert meta["previous_rows"].value == meta["dagster/row_count"].value


def test_catalog_reports_points_and_changes(local_pipeline):
    result = local_pipeline.catalog("demo_office")
    assert result.success
    meta = result.asset_materializations_for_node("ace_points")[0].metadata
    configured = local_pipeline.sim.site("demo_office").configured_points()
    assert meta["dagster/row_count"].value == len({p["name"] for p in configured})
    assert meta["points_added"].value == meta["dagster/row_count"].value
    with local_pipeline.storage.local_copy(points_key("demo_office")) as path:
        table = pq.read_table(path)
    assert set(table.column("name").to_pylist()) == {p["name"] for p in configured}
    again = local_pipeline.catalog("demo_office").asset_materializations_for_node("ace_points")[0].metadata
    assert again["points_added"].value == 0 and again["points_removed"].value == 0


def test_rejected_token_fails_loudly_and_writes_nothing(local_pipeline, sim_token, reliability):
    from bv_sim.faults import FaultConfig

    site = "demo_office"
    assert local_pipeline.catalog(site).success
    local_pipeline.sim.set_faults(FaultConfig(reject_token=True))
    result = local_pipeline.site_day(site)
    assert not result.success
    messages = " ".join(failure_messages(result))
    assert "rejected" in messages and site in messages
    assert sim_token not in messages
    store = local_pipeline.storage
    assert not store.exists(raw_key(site, TEST_DAY))
    assert not store.exists(archive_key(site, TEST_DAY))
    assert result.asset_materializations_for_node("raw_site_day") == []
    reliability.record(
        fault="ACE rejects the token during a site-day run",
        component="site_day run (Dagster)",
        system_did="run failed; the failure names the site and says rejected",
        lost="nothing: no raw or archive file, no materialization",
    )


FAULTS = {
    "rate_limit": dict(rate_limit_every=3, retry_after_s=0),
    "server_errors": dict(server_error_every=2),
    "truncated_bodies": dict(truncate_above_page_size=1000),
    "resent_samples": dict(resend_overlap=7),
    "empty_pages_with_cursor": dict(empty_page_every=2),
    "slow": dict(slow_s=0.05),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_modes_recover_with_identical_archive(local_pipeline, fault, reliability):
    from bv_sim.faults import FaultConfig

    site = "demo_school"
    assert local_pipeline.catalog(site).success
    expected = expected_archive(local_pipeline.sim.site(site), TEST_DAY)
    local_pipeline.sim.set_faults(FaultConfig(**FAULTS[fault]))
    result = local_pipeline.site_day(site)
    assert result.success, failure_messages(result)
    assert read_archive(local_pipeline.storage, site, TEST_DAY) == expected
    assert all(passed for passed, _ in check_results(result).values())
    reliability.record(
        fault=f"ACE fault during a site-day run: {fault.replace('_', ' ')} {FAULTS[fault]}",
        component="site_day run (Dagster)",
        system_did="run succeeded, every check passed",
        lost="nothing: archive equal to the simulator's samples",
    )


@pytest.mark.parametrize("mode", ["404", "200"])
def test_empty_window_is_no_data_not_failure(local_pipeline, mode):
    from bv_sim.faults import FaultConfig

    site = "demo_office"
    assert local_pipeline.catalog(site).success
    local_pipeline.sim.set_faults(FaultConfig(empty_window=mode))
    result = local_pipeline.site_day(site)
    assert result.success, failure_messages(result)
    store = local_pipeline.storage
    assert not store.exists(archive_key(site, TEST_DAY))
    raw_meta = result.asset_materializations_for_node("raw_site_day")[0].metadata
    assert raw_meta["ace_no_data"].value is True and raw_meta["dagster/row_count"].value == 0
    checks = check_results(result)
    assert checks["archive_not_empty"] == (True, "ERROR")
    assert checks["coverage"] == (False, "WARN")


def test_no_data_never_replaces_stored_data(local_pipeline, reliability):
    from bv_sim.faults import FaultConfig

    site = "demo_office"
    assert local_pipeline.catalog(site).success
    assert local_pipeline.site_day(site).success
    before = local_pipeline.storage.read_bytes(archive_key(site, TEST_DAY))
    local_pipeline.sim.set_faults(FaultConfig(empty_window="404"))
    result = local_pipeline.site_day(site)
    assert not result.success
    assert "refusing" in " ".join(failure_messages(result))
    assert local_pipeline.storage.read_bytes(archive_key(site, TEST_DAY)) == before
    reliability.record(
        fault="ACE answers 'no data' for a day already archived",
        component="site_day run (Dagster)",
        system_did="run failed: refusing to replace stored data with nothing",
        lost="nothing: archive byte-identical",
    )


def test_retries_exhausted_fail_the_run_and_publish_nothing(local_pipeline, reliability):
    from bv_sim.faults import FaultConfig

    site = "demo_office"
    assert local_pipeline.catalog(site).success
    local_pipeline.sim.set_faults(FaultConfig(server_error_every=1))
    result = local_pipeline.site_day(site)
    assert not result.success
    assert site in " ".join(failure_messages(result))
    assert not local_pipeline.storage.exists(raw_key(site, TEST_DAY))
    assert local_pipeline.storage.list("raw/") == []
    reliability.record(
        fault="ACE answers 5xx to every request during a site-day run",
        component="site_day run (Dagster)",
        system_did="run failed after the client's retries; the failure names the site",
        lost="nothing: no raw file published",
    )


def test_crash_while_writing_the_archive_leaves_no_file(local_pipeline, monkeypatch, reliability):
    import bv_pipeline.archive_build as archive_build

    site = "demo_office"
    assert local_pipeline.catalog(site).success
    real_writer = archive_build.write_archive_file

    def crash_half_way(table, path, *args):
        real_writer(table.slice(0, table.num_rows // 2), path, *args)
        raise OSError("simulated crash after a partial write")

    monkeypatch.setattr(archive_build, "write_archive_file", crash_half_way)
    result = local_pipeline.site_day(site)
    assert not result.success
    assert "simulated crash" in " ".join(failure_messages(result))
    store = local_pipeline.storage
    assert store.exists(raw_key(site, TEST_DAY))  # the raw zone is complete and kept
    assert store.list("archive/") == []
    with duckdb_connect(store) as con:
        files = con.execute(f"SELECT count(*) FROM glob('{store.uri('archive')}/**')").fetchone()[0]
    assert files == 0
    reliability.record(
        fault="archive writer raises after writing half the file",
        component="archive publish",
        system_did="run failed naming the error; the scratch file was not published",
        lost="nothing: raw zone kept, no archive file visible to DuckDB",
    )


def test_archive_requires_a_catalog(local_pipeline):
    result = local_pipeline.site_day("demo_office")  # no ace_points run first
    assert not result.success
    assert "ace_points" in " ".join(failure_messages(result))
