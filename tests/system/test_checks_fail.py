"""Every blocking check fails on the corruption it exists for — on a real archive built
from the simulator through Dagster — and then nothing downstream runs: no live release in
the same run, no rollup requested by the automation. The failure names the site-day and
the point. A clean run is the positive control (all pass, release runs, rollup requested).
"""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from support.fixtures_pipeline import TEST_DAY

import bv_pipeline.archive_build as archive_build
from bv_assets.partitions import site_day_key

SITE = "demo_office"
LABEL = f"{TEST_DAY.isoformat()}|{SITE}"


def _plain(table: pa.Table) -> pa.Table:
    return table.set_column(0, "point", table.column("point").cast(pa.string()))


def _first_point(table: pa.Table) -> str:
    return table.column("point")[0].as_py()


def flip_value(t):
    t = _plain(t)
    values = t.column("value").to_pylist()
    values[0] = 1 - values[0]
    return t.set_column(2, "value", pa.array(values, pa.float64()))


def shift_ts(t, seconds=1):
    t = _plain(t)
    ts = t.column("ts").to_pylist()
    ts[0] = ts[0] + __import__("datetime").timedelta(seconds=seconds)
    return t.set_column(1, "ts", pa.array(ts, t.schema.field("ts").type))


def drop_row(t):
    return _plain(t).slice(1)


def duplicate_row(t):
    t = _plain(t)
    return pa.concat_tables([t.slice(0, 1), t])


def rename_point(t):
    t = _plain(t)
    first = _first_point(t)
    renamed = pc.if_else(pc.equal(t.column("point"), first), pa.scalar("ghost/not/in/catalog"), t.column("point"))
    return t.set_column(0, "point", renamed)


def wrong_schema(t):
    t = _plain(t)
    return t.set_column(2, "value", t.column("value").cast(pa.float32()))


def outside_day(t):
    return shift_ts(t, seconds=-86_400)


def most_points_silent(t):
    t = _plain(t)
    points = sorted(set(t.column("point").to_pylist()))
    keep = pa.array(points[: len(points) // 4])
    return t.filter(pc.is_in(t.column("point"), value_set=keep))


CASES = {
    "value flipped": (flip_value, "archive_content_matches_raw", True),
    "timestamp shifted 1 s": (shift_ts, "archive_content_matches_raw", True),
    "row dropped": (drop_row, "archive_content_matches_raw", True),
    "row duplicated": (duplicate_row, "no_nulls_no_duplicates", False),
    "point renamed": (rename_point, "points_in_catalog", True),
    "value column float32": (wrong_schema, "archive_schema_and_order", False),
    "timestamp outside the day": (outside_day, "timestamps_inside_day", False),
    "three quarters of the points silent": (most_points_silent, "points_seen_floor", False),
}


def _run_day(pipe, corrupt=None, monkeypatch=None, tags=None):
    """raw + archive (+ checks) + live release for the test day, as one run; then whether the
    automation asks for the month's rollup."""
    d = pipe.defs
    named = {}
    if corrupt is not None:
        real = archive_build.transform_raw_table

        def corrupted(raw, names, day):
            table, dropped, examples, in_day = real(raw, names, day)
            named["point"] = _first_point(table)
            return corrupt(table), dropped, examples, in_day

        monkeypatch.setattr(archive_build, "transform_raw_table", corrupted)
    checks = d.checks_of("archived_site_day")
    assets = [d.asset(n) for n in ("ace_points", "raw_site_day", "archived_site_day", "live_released_site_day",
                                   "hourly_rollup")]
    automation = dg.Definitions(assets=assets, asset_checks=[checks], resources=d.resources)
    before = dg.evaluate_automation_conditions(defs=automation, instance=pipe.instance)
    result = dg.materialize(
        assets + [checks],
        selection=["raw_site_day", "archived_site_day", "live_released_site_day"],
        partition_key=str(site_day_key(SITE, TEST_DAY)), instance=pipe.instance, resources=d.resources,
        raise_on_error=False, tags=tags or {},
    )
    after = dg.evaluate_automation_conditions(defs=automation, instance=pipe.instance, cursor=before.cursor)
    rollups = [str(k) for k in after.get_requested_partitions(dg.AssetKey("hourly_rollup"))]
    return result, rollups, named.get("point")


def test_clean_day_passes_releases_and_requests_its_rollup(local_pipeline):
    assert local_pipeline.catalog(SITE).success
    result, rollups, _ = _run_day(local_pipeline)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert all(c.passed for c in checks.values() if c.severity == dg.AssetCheckSeverity.ERROR), checks
    assert len(checks) == 8 and all(c.description.startswith(LABEL) for c in checks.values())
    assert result.asset_materializations_for_node("live_released_site_day")
    assert rollups == [f"{TEST_DAY:%Y-%m}|{SITE}"]


@pytest.mark.parametrize("case", list(CASES))
def test_each_blocking_check_fails_on_its_corruption(local_pipeline, monkeypatch, case):
    corrupt, check, names_point = CASES[case]
    assert local_pipeline.catalog(SITE).success
    result, rollups, point = _run_day(local_pipeline, corrupt, monkeypatch)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks[check].passed, f"{case}: {check} passed"
    assert checks[check].description.startswith(LABEL)
    if names_point:
        assert point in checks[check].description or "ghost/not/in/catalog" in checks[check].description
    assert not result.asset_materializations_for_node("live_released_site_day")  # nothing downstream ran
    assert result.is_node_skipped("live_released_site_day") or not result.is_node_success("live_released_site_day")
    assert rollups == []


def test_a_known_partial_day_is_accepted_by_run_tag_and_says_so(local_pipeline, monkeypatch):
    assert local_pipeline.catalog(SITE).success
    result, rollups, _ = _run_day(local_pipeline, most_points_silent, monkeypatch, tags={"bv/accept_partial": "true"})
    seen = {c.check_name: c for c in result.get_asset_check_evaluations()}["points_seen_floor"]
    assert seen.passed and "accepted as a known partial day" in seen.description
    assert seen.metadata["accepted_partial"].value is True


def test_a_point_index_that_disagrees_with_the_rows_fails_the_order_check(local_pipeline, monkeypatch):
    """The query layer trusts the footer's point index for where a point's rows are: an index
    whose runs are self-consistent but wrong (two points' row counts swapped) is caught here."""
    from bv_store import point_index

    def swapped(runs):
        runs = [list(g) for g in runs]
        (a, n), (b, m) = runs[0][0], runs[0][1]
        runs[0][0], runs[0][1] = (a, m + 1), (b, n - 1)
        return point_index.encode(runs)

    assert local_pipeline.catalog(SITE).success
    monkeypatch.setattr(archive_build, "encode_point_index", swapped)
    monkeypatch.setattr(archive_build, "_verify_point_index", lambda path, runs: None)  # a writer bug it misses
    result, rollups, _ = _run_day(local_pipeline)
    check = {c.check_name: c for c in result.get_asset_check_evaluations()}["archive_schema_and_order"]
    assert not check.passed and check.description.startswith(LABEL) and "point index" in check.description
    assert not result.asset_materializations_for_node("live_released_site_day")
    assert rollups == []
