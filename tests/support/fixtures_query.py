"""Query-layer fixtures: a synthetic site written in the archive/live layouts, an expected-answer
oracle in plain pandas, and the HTTP API served by a real uvicorn on loopback."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn

from bv_store.schemas import ARCHIVE_SCHEMA, CATALOG_SCHEMA, PARQUET_OPTIONS
from bv_store.layout import archive_key, live_part_key, points_key
from bv_pipeline.rollup_build import build_month_rollup
from support.ports import free_port

SYN_SITE = "syn_site"
SYN_POINTS = ["syn/dev1/analogInput/1", "syn/dev1/analogInput/2", "syn/dev2/binaryValue/3, with comma"]
# Chicago springs forward on 2025-03-09: the archived days straddle it; 03-11 is live only.
ARCHIVED_DAYS = [date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10)]
LIVE_DAY = date(2025, 3, 11)


def _day_samples(day: date, rng: np.random.Generator) -> pd.DataFrame:
    """Irregular ~1-minute samples per point, with a 3-hour hole in point 2 each day."""
    frames = []
    start = pd.Timestamp(day, tz="UTC")
    for i, point in enumerate(SYN_POINTS):
        n = 1440 - 7 * i
        offsets = np.sort(rng.choice(86_400_000_000, size=n, replace=False))
        ts = start + pd.to_timedelta(offsets, unit="us")
        values = np.round(rng.normal(70 + i, 5, size=n), 3) if i < 2 else rng.integers(0, 2, size=n).astype(float)
        frame = pd.DataFrame({"point": point, "ts": ts, "value": values})
        if i == 1:
            hole = (frame.ts >= start + pd.Timedelta(hours=5)) & (frame.ts < start + pd.Timedelta(hours=8))
            frame = frame[~hole]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values(["point", "ts"], ignore_index=True)


def _write(storage, key: str, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, schema=ARCHIVE_SCHEMA, preserve_index=False)
    scratch = storage.new_temp_path(".parquet")
    pq.write_table(table, scratch, **PARQUET_OPTIONS)
    storage.put_file(scratch, key)
    scratch.unlink(missing_ok=True)


def write_catalog(storage, site: str, names: list[str]) -> None:
    rows = [
        {"name": n, "site": site, "point_type": "bacnet", "collect_enabled": True, "marker_tags": ["sensor"],
         "kv_tags": [("equip", n.split("/")[1].upper())], "unit": "degreesFahrenheit" if "analog" in n else None,
         "bacnet_object_name": f"{n.split('/')[1].upper()} Sensor {n.split('/')[-1].split(',')[0]}",
         "bacnet_device_name": n.split("/")[1].upper()}
        for n in names
    ]
    table = pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA)
    scratch = storage.new_temp_path(".parquet")
    pq.write_table(table, scratch)
    storage.put_file(scratch, points_key(site))
    scratch.unlink(missing_ok=True)


def build_synthetic_site(storage, *, with_rollup: bool = True) -> pd.DataFrame:
    """Write 3 archived days, 1 live day (two overlapping sync files), a catalog and the
    March rollup; return every stored sample once (the oracle's input)."""
    rng = np.random.default_rng(7)
    truth = []
    for day in ARCHIVED_DAYS:
        frame = _day_samples(day, rng)
        _write(storage, archive_key(SYN_SITE, day), frame)
        truth.append(frame)
    live = _day_samples(LIVE_DAY, rng)
    cut = live.ts < pd.Timestamp(LIVE_DAY, tz="UTC") + pd.Timedelta(hours=13)
    overlap = live.ts.between(
        pd.Timestamp(LIVE_DAY, tz="UTC") + pd.Timedelta(hours=12), pd.Timestamp(LIVE_DAY, tz="UTC") + pd.Timedelta(hours=13)
    )
    first, second = live[cut], live[~cut | overlap]  # the second tick re-sends an hour
    end_us = lambda f: int(f.ts.max().value // 1000)  # noqa: E731
    _write(storage, live_part_key(SYN_SITE, LIVE_DAY, end_us(first), "a"), first)
    _write(storage, live_part_key(SYN_SITE, LIVE_DAY, end_us(second), "b"), second)
    truth.append(live)
    write_catalog(storage, SYN_SITE, SYN_POINTS)
    if with_rollup:
        build_month_rollup(storage, SYN_SITE, "2025-03")
    return pd.concat(truth, ignore_index=True)


FREQ = {"1min": "1min", "5min": "5min", "15min": "15min", "1h": "1h", "1d": "1D"}


def expected_buckets(truth: pd.DataFrame, points, start, end, interval: str, agg: str, tz: str) -> pd.DataFrame:
    """The independent answer: pandas filtering, flooring in local time, and groupby."""
    frame = truth[truth.point.isin(points) & (truth.ts >= start) & (truth.ts < end)].copy()
    local = frame.ts.dt.tz_convert(tz)
    if interval == "1d":
        frame["bucket"] = local.dt.normalize().dt.tz_convert("UTC")
    else:
        frame["bucket"] = local.dt.floor(FREQ[interval]).dt.tz_convert("UTC")
    frame = frame.sort_values("ts")
    grouped = frame.groupby(["point", "bucket"]).value
    result = {
        "avg": grouped.mean(), "min": grouped.min(), "max": grouped.max(), "first": grouped.first(),
        "last": grouped.last(), "count": grouped.count().astype(float), "sum": grouped.sum(),
    }[agg]
    return result.reset_index().rename(columns={"bucket": "ts"}).sort_values(["point", "ts"], ignore_index=True)



@contextmanager
def serve_app(app):
    """Serve a FastAPI app with uvicorn on a loopback port; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def synthetic_site(local_storage):
    truth = build_synthetic_site(local_storage)
    return local_storage, truth


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)


ONE_DAY = timedelta(days=1)
