"""Content oracles: compare what a test got with the truth sample by sample, not row by row.

Every comparison goes through `assert_same_samples(got, want)`: both sides become
(point, epoch µs, value) rows, sorted by point and time; the (point, ts) keys must be the
same (timestamps compared exactly, as integers) and the values equal to a relative 1e-9
(nulls only where the truth has nulls). A failure names the first differing point and time.

The truth is either the simulator's own samples (`expected_archive` in the system tests:
{(point, epoch µs): value}, see `samples_from_mapping`) or the synthetic site's `truth`
frame the query fixtures build (`truth_window`). `frame_from_export` parses each export
format of the HTTP API (json, csv, parquet, arrow) back into such rows.
"""

from __future__ import annotations

import io
import math
from collections import Counter

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

EXPORT_FORMATS = ("json", "csv", "parquet", "arrow")
_RESOLUTION_US = {"us": 1, "ms": 1000}


def samples_from_mapping(expected: dict[tuple[str, int], float]) -> pd.DataFrame:
    """{(point, epoch µs): value} (the simulator's samples) as a point/ts/value frame."""
    keys = list(expected)
    return pd.DataFrame({
        "point": pd.Series([p for p, _ in keys], dtype=object),
        "ts": pd.to_datetime(pd.Series([t for _, t in keys], dtype="int64"), unit="us", utc=True),
        "value": pd.Series([expected[k] for k in keys], dtype="float64"),
    })


def truth_window(truth: pd.DataFrame, points, start, end) -> pd.DataFrame:
    """The truth's samples of `points` with start <= ts < end."""
    ts = truth["ts"]
    keep = truth["point"].isin(list(points)) & (ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end))
    return truth.loc[keep, ["point", "ts", "value"]].reset_index(drop=True)


def frame_from_export(fmt: str, content: bytes) -> pd.DataFrame:
    """Parse a /timeseries/query body in `fmt` into point, ts (UTC), value."""
    if fmt == "json":
        samples = orjson.loads(content)["samples"]
        return pd.DataFrame({
            "point": pd.Series([s["point_name"] for s in samples], dtype=object),
            "ts": pd.to_datetime(pd.Series([s["timestamp"] for s in samples], dtype="int64"), unit="ms", utc=True),
            "value": pd.Series([s["value"] for s in samples], dtype="float64"),
        })
    if fmt == "csv":
        frame = pd.read_csv(io.BytesIO(content), dtype={"point_name": str, "timestamp": str}, keep_default_na=False,
                            na_values={"value": [""]})
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    elif fmt == "parquet":
        frame = pq.read_table(io.BytesIO(content)).to_pandas()
    elif fmt == "arrow":
        frame = pa.ipc.open_stream(content).read_all().to_pandas()
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    assert list(frame.columns) == ["point_name", "timestamp", "value"], f"{fmt} columns: {list(frame.columns)}"
    return frame.rename(columns={"point_name": "point", "timestamp": "ts"})


def _epoch_us(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(series):
        raise TypeError("integer timestamps are ambiguous: convert them with their unit first")
    ts = pd.to_datetime(series, utc=True)
    return ts.dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64)


def _rows(frame: pd.DataFrame, step_us: int) -> pd.DataFrame:
    out = pd.DataFrame({
        "point": frame["point"].astype(str).to_numpy(),
        "ts_us": (_epoch_us(frame["ts"]) // step_us) * step_us,
        "value": pd.to_numeric(frame["value"]).astype("float64").to_numpy(),
    })
    return out.sort_values(["point", "ts_us", "value"], ignore_index=True, na_position="last")


def _iso(ts_us: int) -> str:
    return pd.Timestamp(int(ts_us), unit="us", tz="UTC").isoformat()


def _same_value(a: float, b: float, rel: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def assert_same_samples(got: pd.DataFrame, want: pd.DataFrame, *, rel: float = 1e-9, resolution: str = "us",
                        label: str = "") -> None:
    """`got` holds exactly `want`'s samples: same (point, ts) keys, values equal to `rel`.

    Both frames have point, ts (datetime-like, UTC or zoned) and value columns; order does
    not matter. `resolution="ms"` compares at whole milliseconds (the JSON format's epoch
    ms): both sides are floored to the millisecond first. Nulls match only nulls.
    """
    where = f"{label}: " if label else ""
    g, w = _rows(got, _RESOLUTION_US[resolution]), _rows(want, _RESOLUTION_US[resolution])
    gk, wk = Counter(zip(g.point, g.ts_us)), Counter(zip(w.point, w.ts_us))
    if gk != wk:
        missing, extra = sorted((wk - gk).elements()), sorted((gk - wk).elements())
        parts = [f"{where}got {len(g)} samples, the truth has {len(w)}"]
        if missing:
            p, t = missing[0]
            parts.append(f"{len(missing)} missing, first: point {p!r} at {_iso(t)}")
        if extra:
            p, t = extra[0]
            parts.append(f"{len(extra)} not in the truth (or repeated), first: point {p!r} at {_iso(t)}")
        raise AssertionError("; ".join(parts))
    bad = [i for i, (a, b) in enumerate(zip(g.value.to_numpy(), w.value.to_numpy())) if not _same_value(a, b, rel)]
    if bad:
        i = bad[0]
        raise AssertionError(
            f"{where}{len(bad)} of {len(g)} values differ (rel {rel}); first: point {g.point[i]!r} at "
            f"{_iso(g.ts_us[i])}: got {float(g.value[i])!r}, truth {float(w.value[i])!r}"
        )


def on_grid(buckets: pd.DataFrame, points, grid) -> pd.DataFrame:
    """Buckets (point, ts, value) spread over every point x grid start: an empty bucket is a
    null, as the query API answers it (pandas' groupby has no row for it)."""
    index = pd.MultiIndex.from_product([list(points), pd.DatetimeIndex(grid).tz_convert("UTC")], names=["point", "ts"])
    keyed = buckets.assign(ts=pd.to_datetime(buckets["ts"], utc=True)).set_index(["point", "ts"])["value"]
    off_grid = keyed.index.difference(index)
    assert off_grid.empty, f"the truth has buckets off the grid, first: {off_grid[0]}"
    return keyed.reindex(index).reset_index()
