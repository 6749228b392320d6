"""The HTTP API served by uvicorn on loopback: the original Query Worker's contract, formats,
limits, auth, point search, and random input that must never produce a 5xx."""

from __future__ import annotations

import io
from datetime import date, timedelta

import httpx
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.fixtures_query import SYN_POINTS, SYN_SITE, _day_samples, _write, build_synthetic_site, expected_buckets, serve_app
from support.oracles import assert_same_samples, frame_from_export, on_grid, truth_window
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bv_query import QueryEngine
from bv_query.api import SMALL_RESULT_ROWS, create_app
from bv_query.render import CHUNK_ROWS
from bv_store.layout import archive_key

KEY_ALL = "k-all-0123456789abcdef"
KEY_OTHER = "k-other-0123456789abcdef"


@pytest.fixture(scope="module")
def api_site(tmp_path_factory):
    """The synthetic site served over HTTP: (client, truth), truth being every stored sample."""
    from bv_store.storage import Storage

    storage = Storage.from_url(str(tmp_path_factory.mktemp("api_store")))
    truth = build_synthetic_site(storage)
    with serve_app(create_app(QueryEngine(storage), api_keys="", cors_origins="")) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, truth


@pytest.fixture(scope="module")
def api(api_site):
    return api_site[0]


@pytest.fixture(scope="module")
def truth(api_site):
    return api_site[1]


EXTRA_DAYS = [date(2025, 3, 2) + timedelta(days=i) for i in range(6)]  # 03-02 .. 03-07, archived


@pytest.fixture(scope="module")
def big_api(tmp_path_factory):
    """The synthetic site plus six more archived days: enough samples that a raw query of all
    points is above SMALL_RESULT_ROWS (streamed) and spans several render chunks."""
    from bv_store.storage import Storage

    storage = Storage.from_url(str(tmp_path_factory.mktemp("api_big_store")))
    truth = [build_synthetic_site(storage, with_rollup=False)]
    rng = np.random.default_rng(11)
    for day in EXTRA_DAYS:
        frame = _day_samples(day, rng)
        _write(storage, archive_key(SYN_SITE, day), frame)
        truth.append(frame)
    with serve_app(create_app(QueryEngine(storage), api_keys="", cors_origins="")) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client, pd.concat(truth, ignore_index=True)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    from bv_store.storage import Storage

    storage = Storage.from_url(str(tmp_path_factory.mktemp("api_secured")))
    build_synthetic_site(storage, with_rollup=False)
    keys = f"{KEY_ALL},{KEY_OTHER}:other_site"
    with serve_app(create_app(QueryEngine(storage), api_keys=keys, cors_origins="https://ops.example")) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client


def q(**params):
    base = {"site_name": SYN_SITE, "point_names": SYN_POINTS[0], "start_time": "2025-03-09T00:00:00Z", "end_time": "2025-03-09T06:00:00Z"}
    base.update(params)
    return base


def test_json_shape_matches_the_original_worker(api, truth):
    r = api.get("/timeseries/query", params=q())
    assert r.status_code == 200
    body = r.json()
    assert body["site_name"] == SYN_SITE and body["point_names"] == [SYN_POINTS[0]]
    sample = body["samples"][0]
    assert set(sample) == {"point_name", "timestamp", "value"} and isinstance(sample["timestamp"], int)
    assert 1741478400000 <= sample["timestamp"] < 1741500000000  # epoch ms inside the range
    meta = body["metadata"]
    assert meta["source"] == "archive" and meta["rows"] == len(body["samples"]) > 300
    assert {"query_time_ms", "files_read", "interval"} <= set(meta)
    want = truth_window(truth, [SYN_POINTS[0]], "2025-03-09T00:00:00Z", "2025-03-09T06:00:00Z")
    assert_same_samples(frame_from_export("json", r.content), want, resolution="ms", label="json")


def test_repeatable_point_parameter_carries_names_with_commas(api):
    r = api.get("/timeseries/query", params=[*q(point_names="").items(), ("point", SYN_POINTS[2]), ("point", SYN_POINTS[0])])
    assert r.status_code == 200
    assert {s["point_name"] for s in r.json()["samples"]} == {SYN_POINTS[2], SYN_POINTS[0]}


FORMAT_START, FORMAT_END = "2025-03-09T00:00:00Z", "2025-03-09T06:00:00Z"  # SYN_POINTS[1]'s hole starts at 05:00


def _every_point(**params):
    return [*q(point_names="", start_time=FORMAT_START, end_time=FORMAT_END, **params).items(), *[("point", p) for p in SYN_POINTS]]


def _format_truth(truth, interval: str) -> tuple[pd.DataFrame, str]:
    """The answer every format must carry, and the resolution JSON (epoch ms) can carry it at."""
    if interval == "raw":
        return truth_window(truth, SYN_POINTS, FORMAT_START, FORMAT_END), "ms"
    buckets = expected_buckets(truth, SYN_POINTS, pd.Timestamp(FORMAT_START), pd.Timestamp(FORMAT_END), interval, "avg", "UTC")
    grid = pd.date_range(FORMAT_START, FORMAT_END, freq="15min", inclusive="left")
    return on_grid(buckets, SYN_POINTS, grid), "us"  # empty buckets (the hole) are nulls


@pytest.mark.parametrize("interval", ["raw", "15min"])
def test_formats_carry_the_same_rows(api, truth, interval):
    """Every format parses back to the stored samples (raw), or to pandas' own 15-minute averages."""
    want, json_resolution = _format_truth(truth, interval)
    answer = api.get("/timeseries/query", params=_every_point(interval=interval))
    rows = answer.json()["metadata"]["rows"]
    assert_same_samples(frame_from_export("json", answer.content), want, resolution=json_resolution, label="json")
    csv = api.get("/timeseries/query", params=_every_point(interval=interval, format="csv"))
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.count("\n") == rows + 1
    assert_same_samples(frame_from_export("csv", csv.content), want, label="csv")
    parquet_body = api.get("/timeseries/query", params=_every_point(interval=interval, format="parquet")).content
    arrow_body = api.get("/timeseries/query", params=_every_point(interval=interval, format="arrow")).content
    parquet, arrow = pq.read_table(io.BytesIO(parquet_body)), pa.ipc.open_stream(arrow_body).read_all()
    assert parquet.num_rows == arrow.num_rows == rows
    assert parquet.column_names == ["point_name", "timestamp", "value"]
    assert_same_samples(frame_from_export("parquet", parquet_body), want, label="parquet")
    assert_same_samples(frame_from_export("arrow", arrow_body), want, label="arrow")
    if interval != "raw":
        assert want.value.isna().sum() == 4  # the hole's four buckets: nulls in every format, compared above


def test_live_and_archive_days_answer_as_split(api, truth):
    start, end = "2025-03-10T20:00:00Z", "2025-03-11T04:00:00Z"
    r = api.get("/timeseries/query", params=q(start_time=start, end_time=end, interval="1h"))
    assert r.status_code == 200 and r.json()["metadata"]["source"] == "split"
    want = expected_buckets(truth, [SYN_POINTS[0]], pd.Timestamp(start), pd.Timestamp(end), "1h", "avg", "UTC")
    assert len(want) == 8  # every hour has samples: no nulls expected
    assert_same_samples(frame_from_export("json", r.content), want, label="split json")


def test_large_results_stream_as_valid_json(big_api):
    api, truth = big_api
    start, end = "2025-03-02", "2025-03-12"
    params = [*q(point_names="", start_time=start, end_time=end).items(), *[("point", p) for p in SYN_POINTS]]
    r = api.get("/timeseries/query", params=params)
    assert r.status_code == 200
    # Above SMALL_RESULT_ROWS the body is a StreamingResponse: chunked, no Content-Length.
    assert "content-length" not in r.headers and r.headers.get("transfer-encoding") == "chunked"
    body = orjson.loads(r.content)
    assert len(body["samples"]) == body["metadata"]["rows"] > max(SMALL_RESULT_ROWS, CHUNK_ROWS)  # > 15000, several chunks
    assert body["site_name"] == SYN_SITE and body["point_names"] == SYN_POINTS
    want = truth_window(truth, SYN_POINTS, pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"))
    assert_same_samples(frame_from_export("json", r.content), want, resolution="ms", label="streamed json")


@pytest.mark.parametrize(
    "params,status,parameter",
    [
        (q(site_name="nowhere"), 404, "site_name"),
        (q(start_time="2025-03-09T06:00:00Z"), 400, "end_time"),
        (q(start_time="not-a-time"), 400, "start_time"),
        (q(end_time="2026-13-45"), 400, "end_time"),
        (q(interval="2h"), 400, "interval"),
        (q(agg="median"), 400, "agg"),
        (q(format="xml"), 400, "format"),
        (q(tz="Nowhere/City"), 400, "tz"),
        (q(fill="spline"), 400, "fill"),
        (q(max_points="many"), 400, "max_points"),
        (q(point_names=""), 400, "point_names"),
        (q(start_time="2023-01-01", end_time="2025-01-01"), 400, "end_time"),
        (q(point_names=",".join(f"p{i}" for i in range(101))), 400, "point_names"),
        ({"point_names": "a", "start_time": "2025-03-09", "end_time": "2025-03-10"}, 400, "site_name"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_parameter(api, params, status, parameter):
    r = api.get("/timeseries/query", params=params)
    assert r.status_code == status, r.text
    assert r.json()["parameter"] == parameter and r.json()["error"]


def test_unknown_points_are_listed_not_silently_empty(api):
    r = api.get("/timeseries/query", params=q(point_names=f"{SYN_POINTS[0]},ghost/point"))
    assert r.status_code == 200 and r.json()["metadata"]["unknown_points"] == ["ghost/point"]


def test_sites_points_search_health_and_openapi(api):
    assert api.get("/health").json()["status"] == "ok"
    sites = api.get("/sites").json()["sites"]
    assert [s["name"] for s in sites] == [SYN_SITE] and sites[0]["points"] == 3
    found = api.get(f"/sites/{SYN_SITE}/points", params={"q": "dev1 sensor 2"}).json()
    assert [p["name"] for p in found["points"]] == [SYN_POINTS[1]]
    assert found["points"][0]["unit"] == "°F" and found["points"][0]["equipment"] == "DEV1"
    assert api.get(f"/sites/{SYN_SITE}/points", params={"tag": "equip=DEV2"}).json()["total"] == 1
    assert api.get("/sites/nowhere/points").status_code == 404
    spec = api.get("/openapi.json").json()
    assert "/timeseries/query" in spec["paths"]


def test_keys_are_required_scoped_and_never_echoed(secured):
    assert secured.get("/health").status_code == 200
    assert secured.get("/sites").status_code == 401
    wrong = secured.get("/timeseries/query", params=q(), headers={"Authorization": "Bearer wrong-key-0000000000"})
    assert wrong.status_code == 401 and "wrong-key" not in wrong.text
    ok = secured.get("/timeseries/query", params=q(), headers={"Authorization": f"Bearer {KEY_ALL}"})
    assert ok.status_code == 200
    other = secured.get("/timeseries/query", params=q(), headers={"Authorization": f"Bearer {KEY_OTHER}"})
    assert other.status_code == 403 and KEY_OTHER not in other.text
    listed = secured.get("/sites", headers={"Authorization": f"Bearer {KEY_OTHER}"}).json()["sites"]
    assert listed == []
    preflight = secured.options(
        "/timeseries/query", headers={"Origin": "https://ops.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.headers.get("access-control-allow-origin") == "https://ops.example"


TEXT = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["", "0", "-1", "1e400", "nan", "2025-03-09", "1741478400000"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    site=st.one_of(st.just(SYN_SITE), st.text(max_size=20)),
    points=st.one_of(st.just(SYN_POINTS[0]), st.text(max_size=60)),
    start=TEXT, end=TEXT,
    interval=st.one_of(st.none(), st.sampled_from(["raw", "1min", "1hr", "1day", "auto", "3h", ""]), st.text(max_size=8)),
    agg=st.one_of(st.none(), st.sampled_from(["avg", "min", "count", "sum", "median"])),
    tz=st.one_of(st.none(), st.sampled_from(["UTC", "America/Chicago", "Asia/Kolkata", "../etc", ""]), st.text(max_size=12)),
    fill=st.one_of(st.none(), st.sampled_from(["null", "locf", "linear", "x"])),
    max_points=st.one_of(st.none(), st.integers(-5, 10**7).map(str), st.text(max_size=5)),
    fmt=st.one_of(st.none(), st.sampled_from(["json", "csv", "parquet", "arrow", "yaml"])),
)
def test_random_parameters_never_produce_a_5xx(api, site, points, start, end, interval, agg, tz, fill, max_points, fmt):
    params = {k: v for k, v in dict(
        site_name=site, point_names=points, start_time=start, end_time=end, interval=interval, agg=agg,
        tz=tz, fill=fill, max_points=max_points, format=fmt,
    ).items() if v is not None}
    r = api.get("/timeseries/query", params=params)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        body = r.json()
        assert isinstance(body["error"], str) and body["error"]


def test_json_samples_are_the_bytes_orjson_writes_for_the_dicts():
    """render.sample_objects builds the samples column-wise; it must equal orjson's own output
    for a list of {"point_name", "timestamp", "value"} dicts: escapes, floats, nulls, chunks."""
    from bv_query import render

    rng = np.random.default_rng(3)
    n = 3000
    values = rng.normal(0, 1e3, n)
    values[::7] = np.round(values[::7])
    values[:8] = [1e20, -0.0, 5e-324, 1.0, 0.1, 1 / 3, 1.7976931348623157e308, -1e-7]
    names = ["a/b", 'quote " back \\ é', "€\n\t", "x"]
    table = pa.table({
        "point": pa.array([names[i % 4] for i in range(n)]),
        "ts": pa.array(np.sort(rng.integers(0, 2**52, n)), pa.timestamp("us", tz="UTC")),
        "value": pa.array(values),
    })
    with_nulls = table.set_column(2, "value", pa.array(values, mask=np.arange(n) % 11 == 0))
    chunked = pa.concat_tables([with_nulls.slice(0, 100), with_nulls.slice(100)])

    def by_dicts(part):
        rows = [{"point_name": p, "timestamp": t, "value": v} for p, t, v in zip(
            part.column("point").to_pylist(), render._epoch_ms(part.column("ts")).to_pylist(),
            part.column("value").to_pylist())]
        return orjson.dumps(rows)[1:-1]

    for part in (table, with_nulls, chunked, chunked.slice(37, 1), chunked.slice(90, 700), table.slice(0, 0)):
        assert render.sample_objects(part) == by_dicts(part)
