"""The query engine against an independent pandas computation on the same stored samples:
raw and every aggregate, across the 2025-03-09 DST change, across the archive/live
boundary, from rollups and from day files, for several points at once."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from support.fixtures_query import (
    ARCHIVED_DAYS,
    LIVE_DAY,
    SYN_POINTS,
    SYN_SITE,
    day_start,
    expected_buckets,
    utc,
)
from support.oracles import assert_same_samples, truth_window

from bv_query import QueryEngine, QueryError, UnknownSite

AGGS = ["avg", "min", "max", "first", "last", "count", "sum"]


def _frame(result) -> pd.DataFrame:
    frame = result.to_pandas()
    frame["ts"] = frame["ts"].dt.tz_convert("UTC")
    return frame.rename(columns={"value": "value"})


def _utc_ns(series: pd.Series) -> np.ndarray:
    return series.dt.tz_convert(None).to_numpy()


def _compare(got: pd.DataFrame, want: pd.DataFrame, agg: str = "") -> None:
    # Empty buckets are in the answer (null, or 0 for count); pandas' groupby has none.
    got = got.dropna(subset=["value"])
    if agg == "count":
        got = got[got.value > 0]
    got = got.reset_index(drop=True)
    assert len(got) == len(want), f"{len(got)} rows, expected {len(want)}"
    assert got.point.tolist() == want.point.tolist()
    assert (_utc_ns(got.ts) == _utc_ns(want.ts)).all()
    np.testing.assert_allclose(got.value.to_numpy(), want.value.to_numpy(), rtol=1e-9, atol=1e-9)


def test_raw_matches_stored_samples_across_archive_and_live(synthetic_site):
    storage, truth = synthetic_site
    engine = QueryEngine(storage)
    start, end = utc(2025, 3, 10, 18), utc(2025, 3, 11, 15)  # archived day into the live day
    result = engine.query(SYN_SITE, SYN_POINTS[:2], start, end)
    want = truth[truth.point.isin(SYN_POINTS[:2]) & (truth.ts >= start) & (truth.ts < end)]
    want = want.sort_values(["point", "ts"], ignore_index=True)
    got = _frame(result)
    assert len(got) == len(want) > 0
    assert_same_samples(got, want, rel=0.0)  # points, timestamps and values, exactly
    assert got.point.tolist() == want.point.tolist()  # answered sorted by point, then time
    assert (_utc_ns(got.ts) == _utc_ns(want.ts)).all() and (got.value.to_numpy() == want.value.to_numpy()).all()
    assert result.metadata["source"] == "split"
    # The live day's re-sent hour is stored twice in live files but answered once.
    assert not got.duplicated(["point", "ts"]).any()


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("interval,tz", [("15min", "UTC"), ("1h", "America/Chicago"), ("1d", "America/Chicago"), ("1h", "Asia/Kolkata")])
def test_buckets_match_pandas(synthetic_site, agg, interval, tz):
    storage, truth = synthetic_site
    engine = QueryEngine(storage)
    start, end = utc(2025, 3, 8, 3, 17), utc(2025, 3, 11, 20, 41)  # partial edges, 4 days
    result = engine.query(SYN_SITE, SYN_POINTS, start, end, interval=interval, agg=agg, tz=tz)
    _compare(_frame(result), expected_buckets(truth, SYN_POINTS, start, end, interval, agg, tz), agg)


def test_whole_days_come_from_the_rollup_and_agree_with_day_files(synthetic_site):
    storage, truth = synthetic_site
    engine = QueryEngine(storage)
    start, end = day_start(ARCHIVED_DAYS[0]), day_start(LIVE_DAY) + timedelta(days=1)
    for agg in AGGS:
        result = engine.query(SYN_SITE, SYN_POINTS, start, end, interval="1h", agg=agg)
        assert result.metadata["days_from_rollup"] == 3 and result.metadata["days_live"] == 1
        _compare(_frame(result), expected_buckets(truth, SYN_POINTS, start, end, "1h", agg, "UTC"), agg)


def test_daily_buckets_in_chicago_are_23_hours_on_the_dst_day(synthetic_site):
    storage, truth = synthetic_site
    result = QueryEngine(storage).query(
        SYN_SITE, SYN_POINTS[:1], utc(2025, 3, 8, 6), utc(2025, 3, 11, 5), interval="1d", agg="count", tz="America/Chicago"
    )
    starts = _frame(result).ts.tolist()
    assert [b - a for a, b in zip(starts, starts[1:])] == [timedelta(hours=24), timedelta(hours=23)]
    assert starts[1] == pd.Timestamp("2025-03-09T06:00:00Z")  # local midnight, CST
    assert starts[2] == pd.Timestamp("2025-03-10T05:00:00Z")  # local midnight, CDT


def test_empty_buckets_are_null_and_fills_close_them(synthetic_site):
    storage, _ = synthetic_site
    engine = QueryEngine(storage)
    args = (SYN_SITE, [SYN_POINTS[1]], utc(2025, 3, 8, 3), utc(2025, 3, 8, 10))
    plain = _frame(engine.query(*args, interval="1h"))
    assert len(plain) == 7
    hole = plain[(plain.ts >= "2025-03-08T05:00Z") & (plain.ts < "2025-03-08T08:00Z")]
    assert hole.value.isna().all() and len(hole) == 3  # the 3-hour hole is a gap, not dropped
    locf = _frame(engine.query(*args, interval="1h", fill="locf"))
    assert locf.value.notna().all()
    assert (locf.set_index("ts").loc[hole.ts, "value"] == plain.set_index("ts").loc[pd.Timestamp("2025-03-08T04:00Z"), "value"]).all()
    linear = _frame(engine.query(*args, interval="1h", fill="linear"))
    before, after = plain.value.iloc[1], plain.value.iloc[5]
    np.testing.assert_allclose(linear.value.iloc[2:5], [before + (after - before) * k / 4 for k in (1, 2, 3)])


def test_m4_keeps_extremes_within_budget(synthetic_site):
    storage, truth = synthetic_site
    start, end = day_start(ARCHIVED_DAYS[0]), day_start(ARCHIVED_DAYS[0]) + timedelta(days=1)
    result = QueryEngine(storage).query(SYN_SITE, [SYN_POINTS[0]], start, end, max_points=100)
    got = _frame(result)
    day = truth[(truth.point == SYN_POINTS[0]) & (truth.ts >= start) & (truth.ts < end)]
    assert result.metadata["downsampled"] and len(got) <= 100
    assert got.value.max() == day.value.max() and got.value.min() == day.value.min()
    assert got.ts.min() == day.ts.min() and got.ts.max() == day.ts.max()


def test_auto_picks_a_resolution_within_the_budget(synthetic_site):
    storage, _ = synthetic_site
    engine = QueryEngine(storage)
    week = engine.query(SYN_SITE, SYN_POINTS[:1], utc(2025, 3, 5), utc(2025, 3, 12), interval="auto", max_points=500)
    assert week.metadata["interval"] == "1h" and week.metadata["rows"] <= 500
    hour = engine.query(SYN_SITE, SYN_POINTS[:1], utc(2025, 3, 9, 1), utc(2025, 3, 9, 2), interval="auto")
    assert hour.metadata["interval"] == "raw"


def test_missing_days_are_gaps_and_unknown_points_are_named(synthetic_site):
    storage, truth = synthetic_site
    engine = QueryEngine(storage)
    result = engine.query(SYN_SITE, [SYN_POINTS[0], "no/such/point"], utc(2025, 3, 1), utc(2025, 3, 9))
    assert result.metadata["days_missing"] == 7 and result.metadata["rows"] > 0
    assert_same_samples(_frame(result), truth_window(truth, [SYN_POINTS[0]], utc(2025, 3, 1), utc(2025, 3, 9)))
    assert result.metadata["unknown_points"] == ["no/such/point"]
    nothing = engine.query(SYN_SITE, [SYN_POINTS[0]], utc(2025, 2, 1), utc(2025, 2, 3), interval="1h")
    assert nothing.metadata["source"] == "none" and nothing.to_pandas().value.isna().all()


def test_bad_input_names_the_parameter(synthetic_site):
    storage, _ = synthetic_site
    engine = QueryEngine(storage)
    cases = {
        "end_time": dict(start="2025-03-09", end="2025-03-08"),
        "start_time": dict(start="yesterday", end="2025-03-08"),
        "interval": dict(start="2025-03-08", end="2025-03-09", interval="7min"),
        "agg": dict(start="2025-03-08", end="2025-03-09", agg="median"),
        "tz": dict(start="2025-03-08", end="2025-03-09", tz="Mars/Olympus"),
        "fill": dict(start="2025-03-08", end="2025-03-09", fill="spline"),
    }
    for parameter, kwargs in cases.items():
        start, end = kwargs.pop("start"), kwargs.pop("end")
        with pytest.raises(QueryError) as info:
            engine.query(SYN_SITE, SYN_POINTS[:1], start, end, **kwargs)
        assert info.value.parameter == parameter
    with pytest.raises(UnknownSite):
        engine.query("nowhere", SYN_POINTS[:1], "2025-03-08", "2025-03-09")
    with pytest.raises(QueryError, match="365"):
        engine.query(SYN_SITE, SYN_POINTS[:1], "2024-01-01", "2025-03-09")
    with pytest.raises(QueryError, match="at most 100"):
        engine.query(SYN_SITE, [f"p{i}" for i in range(101)], "2025-03-08", "2025-03-09")


def test_times_parse_as_iso_epoch_seconds_and_epoch_ms(synthetic_site):
    storage, truth = synthetic_site
    engine = QueryEngine(storage)
    forms = [
        ("2025-03-09T00:00:00Z", "2025-03-09T06:00:00Z"),
        ("2025-03-08T18:00:00-06:00", "2025-03-09T00:00:00-06:00"),
        ("2025-03-09T00:00:00", "2025-03-09T06:00:00"),
        ("1741478400", "1741500000"),
        ("1741478400000", "1741500000000"),
    ]
    results = [engine.query(SYN_SITE, SYN_POINTS[:1], a, b) for a, b in forms]
    answers = [r.metadata["rows"] for r in results]
    assert len(set(answers)) == 1 and answers[0] > 300
    want = truth_window(truth, SYN_POINTS[:1], utc(2025, 3, 9), utc(2025, 3, 9, 6))  # every form means this window
    for (a, b), result in zip(forms, results):
        assert_same_samples(_frame(result), want, label=f"start_time={a} end_time={b}")


def test_a_changed_archive_day_is_not_served_from_a_stale_rollup(synthetic_site):
    storage, truth = synthetic_site
    from support.fixtures_query import _write
    from bv_store.layout import archive_key

    day = ARCHIVED_DAYS[1]
    frame = truth[(truth.ts >= day_start(day)) & (truth.ts < day_start(day) + timedelta(days=1))].copy()
    frame["value"] = frame["value"] + 1000  # late data rewrote the day; the rollup is now stale
    _write(storage, archive_key(SYN_SITE, day), frame)
    engine = QueryEngine(storage)
    result = engine.query(SYN_SITE, SYN_POINTS[:1], day_start(day), day_start(day) + timedelta(days=1), interval="1d", agg="min")
    assert result.metadata["days_from_rollup"] == 0
    assert result.to_pandas().value.iloc[0] > 900



# --- the direct (pyarrow) path against the general (DuckDB) path, on files the pipeline's own
# writers produced: archive files through write_archive_file + publish, rollups through
# build_month_rollup, with small row groups so points straddle row-group boundaries.
DIRECT_SITE = "direct_site"
DIRECT_DAYS = [date(2025, 3, 29) + timedelta(days=i) for i in range(4)]  # two rollup months
DIRECT_LIVE_DAY = date(2025, 4, 2)


def _direct_points() -> list[str]:
    names = [f"dev{d}/analogInput/{i}" for d in range(4) for i in range(5)]
    return sorted(names + ["dev9/binaryValue/1, with comma", "dév/ünïcode/1", "uncatalogued/point"])


def _direct_day(day: date, points: list[str], rng) -> pd.DataFrame:
    frames = []
    start = pd.Timestamp(day, tz="UTC")
    for i, point in enumerate(points):
        if i == 3 and day == DIRECT_DAYS[1]:
            continue  # silent for a whole day
        step = 300 if i % 7 == 0 else 60
        n = 86_400 // step
        offsets = np.arange(n) * step * 1_000_000 + rng.integers(0, step * 1_000_000, size=n)
        values = np.round(rng.normal(20 + i, 3, size=n), 3) if "binary" not in point else rng.integers(0, 2, size=n) * 1.0
        frames.append(pd.DataFrame({"point": point, "ts": start + pd.to_timedelta(np.sort(offsets), unit="us"), "value": values}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def writer_store(tmp_path_factory):
    import pyarrow as pa

    import bv_pipeline.archive_build as archive_build
    import bv_pipeline.rollup_build as rollup_build
    from support.fixtures_query import _write, write_catalog

    from bv_store.layout import archive_key, live_part_key
    from bv_store.publish import publish
    from bv_store.schemas import ARCHIVE_SCHEMA
    from bv_store.storage import Storage

    storage = Storage.from_url(str(tmp_path_factory.mktemp("writer_store")))
    points = _direct_points()
    catalog = [p for p in points if not p.startswith("uncatalogued")]
    rng = np.random.default_rng(12)
    mp = pytest.MonkeyPatch()
    mp.setattr(archive_build, "ROW_GROUP_ROWS", 3000)
    mp.setattr(rollup_build, "ROLLUP_ROW_GROUP_ROWS", 700)
    try:
        for day in DIRECT_DAYS:
            frame = _direct_day(day, points, rng).sort_values(["point", "ts"], ignore_index=True)
            codes = pd.Categorical(frame.point, categories=points)
            table = pa.table({
                "point": pa.DictionaryArray.from_arrays(pa.array(codes.codes.astype(np.int32)), pa.array(points)),
                "ts": pa.array(frame.ts, ARCHIVE_SCHEMA.field("ts").type), "value": pa.array(frame.value, pa.float64()),
            })
            publish(storage, archive_key(DIRECT_SITE, day), lambda path, t=table: archive_build.write_archive_file(t, path),
                    expect_rows=table.num_rows)
        live = _direct_day(DIRECT_LIVE_DAY, points, rng)
        cut = live.ts < pd.Timestamp(DIRECT_LIVE_DAY, tz="UTC") + pd.Timedelta(hours=10)
        _write(storage, live_part_key(DIRECT_SITE, DIRECT_LIVE_DAY, 1, "a"), live[cut])
        _write(storage, live_part_key(DIRECT_SITE, DIRECT_LIVE_DAY, 2, "b"), live[~cut])
        write_catalog(storage, DIRECT_SITE, catalog)
        for month in ("2025-03", "2025-04"):
            rollup_build.build_month_rollup(storage, DIRECT_SITE, month)
    finally:
        mp.undo()
    return storage, points


def _same_content(direct, general, label: str) -> None:
    a, b = direct.table, general.table
    assert a.num_rows == b.num_rows, f"{label}: {a.num_rows} rows direct, {b.num_rows} through DuckDB"
    assert a.column("point").to_pylist() == b.column("point").to_pylist(), f"{label}: points differ"
    ts_a = a.column("ts").cast(pa_ts_int()).to_numpy(zero_copy_only=False)
    ts_b = b.column("ts").cast(pa_ts_int()).to_numpy(zero_copy_only=False)
    assert (ts_a == ts_b).all(), f"{label}: timestamps differ"
    va = a.column("value").to_pandas().to_numpy(dtype=float)
    vb = b.column("value").to_pandas().to_numpy(dtype=float)
    assert (np.isnan(va) == np.isnan(vb)).all(), f"{label}: nulls differ"
    # In-order sums as DuckDB adds them; DuckDB's own thread interleaving may move the last bit.
    np.testing.assert_allclose(va, vb, rtol=1e-12, atol=0, equal_nan=True, err_msg=label)
    keys = set(direct.metadata) - {"query_time_ms", "reader"}
    assert {k: direct.metadata[k] for k in keys} == {k: general.metadata[k] for k in keys}, label


def pa_ts_int():
    import pyarrow as pa

    return pa.int64()


def test_direct_path_and_duckdb_path_give_the_same_content(writer_store):
    storage, points = writer_store
    fast, general = QueryEngine(storage), QueryEngine(storage, direct=False)
    first = utc(2025, 3, 29)
    shapes = [  # (points, start, end, options, the reader the fast engine must have used)
        (points[:1], first, first + timedelta(days=1), {}, "direct"),
        (points[4:7], first + timedelta(hours=13, minutes=7), first + timedelta(days=2, hours=5), {}, "direct"),
        (points, first + timedelta(days=1), first + timedelta(days=2), {}, "direct"),
        (points[:2] + ["no/such/point"], first + timedelta(days=3, hours=20), first + timedelta(days=4, hours=4), {},
         "direct+duckdb"),
        (points[:1], first, first + timedelta(days=2), {"max_points": 200}, "direct"),
        (points[3:4], first + timedelta(days=1), first + timedelta(days=2), {}, "direct"),  # silent that day
        (["uncatalogued/point", "no/such/point"], first, first + timedelta(days=1), {"interval": "1h"}, "direct"),
        (points[:2], first + timedelta(days=1), first + timedelta(days=2), {"interval": "1min", "agg": "avg"}, "direct"),
    ]
    for agg in AGGS:
        for interval in ("15min", "1h", "1d"):
            shapes.append((points[2:5], first + timedelta(hours=5, minutes=31), first + timedelta(days=3, hours=7),
                           {"interval": interval, "agg": agg}, "direct"))
        shapes.append((points[-3:], first, first + timedelta(days=4), {"interval": "1h", "agg": agg}, "direct"))
        shapes.append((points[:2], first, first + timedelta(days=5), {"interval": "1h", "agg": agg}, "duckdb"))
    shapes += [
        (points[:2], first, first + timedelta(days=4), {"interval": "1h", "tz": "America/Chicago"}, "duckdb"),
        (points[:2], first, first + timedelta(days=4), {"interval": "1h", "fill": "locf"}, "duckdb"),
        (points[:3], first, first + timedelta(days=4), {"interval": "1d", "max_points": 6}, "direct"),
    ]
    used = set()
    for pts, start, end, options, reader in shapes:
        label = f"{len(pts)} points {start:%m-%d %H:%M}..{end:%m-%d %H:%M} {options}"
        got = fast.query(DIRECT_SITE, pts, start, end, **options)
        want = general.query(DIRECT_SITE, pts, start, end, **options)
        assert want.metadata["reader"] == "duckdb", label
        assert got.metadata["reader"] == reader, f"{label}: read by {got.metadata['reader']}, expected {reader}"
        silent = pts == points[3:4] or pts[0].startswith("uncatalogued")
        assert got.table.num_rows > 0 or silent, f"{label}: no rows"
        _same_content(got, want, label)
        used.add(reader)
    assert used == {"direct", "direct+duckdb", "duckdb"}
    assert fast._direct.cache.stats()["entries"] > 0  # the direct path really decoded row groups


def test_direct_path_reads_a_rewritten_file_not_its_old_decode(writer_store, tmp_path):
    storage, points = writer_store
    from support.fixtures_query import _write

    from bv_store.layout import archive_key

    engine = QueryEngine(storage, listing_ttl_s=0)
    day = DIRECT_DAYS[2]
    start = utc(day.year, day.month, day.day)
    before = engine.query(DIRECT_SITE, points[:1], start, start + timedelta(days=1))
    assert before.metadata["reader"] == "direct" and before.table.num_rows > 0
    frame = before.to_pandas()
    frame["value"] = frame["value"] + 1000
    original = (storage.root / archive_key(DIRECT_SITE, day)).read_bytes()
    try:
        _write(storage, archive_key(DIRECT_SITE, day), frame)  # a re-materialized day
        after = engine.query(DIRECT_SITE, points[:1], start, start + timedelta(days=1))
        assert after.metadata["reader"] == "direct"
        assert (after.to_pandas().value.to_numpy() == frame.value.to_numpy()).all()
    finally:
        (storage.root / archive_key(DIRECT_SITE, day)).write_bytes(original)
