"""The raw -> archive transform as a pure function, checked against a pandas re-derivation."""

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from bv_pipeline.archive_build import transform_raw_table

DAY = date(2025, 3, 4)


def raw(rows):
    return pa.table(
        {
            "name": pa.array([r[0] for r in rows], pa.string()),
            "value": pa.array([r[1] for r in rows], pa.string()),
            "time": pa.array([r[2] for r in rows], pa.string()),
        }
    )


def test_filters_types_dedupes_and_sorts():
    rows = [
        ("b/x:1", "70.5", "2025-03-04T00:01:00.000100"),
        ("a/y #2", "active", "2025-03-04T00:01:00.000100"),
        ("not/collected", "1.0", "2025-03-04T00:01:00.000100"),
        ("b/x:1", "70.5", "2025-03-04T00:01:00.000100"),  # re-sent, same value
        ("a/y #2", "inactive", "2025-03-04T00:00:00"),
        ("b/x:1", None, "2025-03-04T00:02:00"),
        ("b/x:1", "nan", "2025-03-04T00:03:00"),
        ("b/x:1", "garbage", "2025-03-04T00:04:00"),
        ("b/x:1", "71", "2025-03-05T00:00:00"),  # next day: outside
        ("b/x:1", "72", "not a time"),
        ("a/y #2", "on", "2025-03-04T00:00:00"),  # conflicting re-send: last wins
    ]
    table, dropped, examples, in_day = transform_raw_table(raw(rows), sorted(["b/x:1", "a/y #2"]), DAY)
    out = table.to_pandas()
    assert list(out["point"]) == ["a/y #2", "a/y #2", "b/x:1"]
    assert list(out["value"]) == [1.0, 1.0, 70.5]
    assert [t.isoformat() for t in out["ts"]] == [
        "2025-03-04T00:00:00+00:00",
        "2025-03-04T00:01:00.000100+00:00",
        "2025-03-04T00:01:00.000100+00:00",
    ]
    assert dropped == {
        "not_collected": 1,
        "outside_day": 1,
        "bad_time": 1,
        "duplicate": 1,
        "conflicting_duplicate": 1,
        "null": 1,
        "nan": 1,
        "non_finite": 0,
        "unparseable": 1,
    }
    assert examples == ["garbage"]
    assert in_day == len(rows) - 2  # one sample of the next day, one with a bad time
    # Every raw row is accounted for: kept or counted under one reason.
    assert len(out) + sum(dropped.values()) == len(rows)


def test_matches_independent_pandas_derivation():
    rng = np.random.default_rng(7)
    names = [f"site/dev{i}/ai:{i}" for i in range(30)]
    n = 5000
    pick = rng.integers(0, 35, n)  # 30..34 are not collected
    seconds = rng.integers(-100, 86_500, n)
    vals = rng.choice(["1.5", "2", "-3.25", "on", "off", "nan", None, "x"], n)
    times = pd.Timestamp("2025-03-04") + pd.to_timedelta(seconds, unit="s")
    rows = [
        (f"site/dev{p}/ai:{p}", v, t.strftime("%Y-%m-%dT%H:%M:%S.%f"))
        for p, v, t in zip(pick, vals, times)
    ]
    table, dropped, _, _ = transform_raw_table(raw(rows), sorted(names), DAY)

    df = pd.DataFrame(rows, columns=["point", "value", "time"])
    df["ts"] = pd.to_datetime(df["time"], utc=True)
    mapping = {"on": 1.0, "off": 0.0}
    df["v"] = [mapping.get(v, None) if v in mapping else (float(v) if v not in (None, "nan", "x") else None) for v in df["value"]]
    df = df[df["point"].isin(names)]
    df = df[(df["ts"] >= pd.Timestamp("2025-03-04", tz="UTC")) & (df["ts"] < pd.Timestamp("2025-03-05", tz="UTC"))]
    df = df.dropna(subset=["v"])
    expected = df.drop_duplicates(["point", "ts"], keep="last").sort_values(["point", "ts"])

    got = table.to_pandas()
    assert len(got) == len(expected)
    assert list(got["point"]) == list(expected["point"])
    assert (got["ts"].dt.tz_convert(None).to_numpy() == expected["ts"].dt.tz_convert(None).to_numpy()).all()
    assert np.allclose(got["value"].to_numpy(), expected["v"].to_numpy())


def test_empty_raw_gives_empty_table():
    table, dropped, _, in_day = transform_raw_table(raw([]), ["a"], DAY)
    assert table.num_rows == 0 and sum(dropped.values()) == 0 and in_day == 0


def test_a_raw_file_read_by_row_group_gives_what_the_whole_table_gives(tmp_path):
    """build_archive reads the raw file a row group at a time and sorts in point buckets:
    the same table, counts and examples as the whole table in one bucket, duplicates
    across row groups included (the last one sent wins)."""
    import pyarrow.parquet as pq

    from bv_pipeline.archive_build import scan_raw
    from bv_pipeline.archive_rows import RawScan

    rng = np.random.default_rng(11)
    names = sorted(f"site/dev{i}/ai:{i}" for i in range(40))
    n = 20_000
    pick = rng.integers(0, 44, n)
    seconds = rng.integers(-50, 2_000, n)  # few distinct times: many re-sent (point, ts)
    vals = rng.choice(["1.5", "2", "-3.25", "on", "nan", None, "junk", "7e1"], n)
    rows = [(f"site/dev{p}/ai:{p}", v, (pd.Timestamp("2025-03-04") + pd.Timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%S.%f"))
            for p, v, s in zip(pick, vals, seconds)]
    whole = raw(rows)
    path = tmp_path / "raw.parquet"
    pq.write_table(whole, path, row_group_size=1_500)

    one = RawScan(names, DAY, capacity=10, buckets=1)  # a short reservation grows
    one.add(whole)
    expected = one.archive_table()
    pieces = scan_raw(pq.ParquetFile(path, read_dictionary=["name", "time", "value"]), names, DAY)
    got = pieces.archive_table()

    assert pieces.buckets > 1 and pq.ParquetFile(path).metadata.num_row_groups > 10
    assert got.cast(expected.schema).equals(expected)
    assert pieces.dropped == one.dropped and pieces.dropped["duplicate"] + pieces.dropped["conflicting_duplicate"] > 0
    assert pieces.examples == one.examples == ["junk"]
    assert (pieces.raw_in_day, pieces.points, pieces.first_us, pieces.last_us) == (
        one.raw_in_day, one.points, one.first_us, one.last_us)
