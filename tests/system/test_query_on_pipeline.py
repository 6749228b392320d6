"""The query layer over archives the pipeline produced from the simulator, on local storage
and on S3 (moto's server on loopback; DuckDB's httpfs from the pip package)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from support.fixtures_pipeline import TEST_DAY
from support.fixtures_query import serve_app
from support.oracles import EXPORT_FORMATS, assert_same_samples, frame_from_export, samples_from_mapping
from test_pipeline import expected_archive

from bv_store.days import day_window
from bv_query import QueryEngine
from bv_query.api import create_app


def test_api_answers_from_pipeline_archives_on_both_backends(pipeline):
    site = "demo_office"
    assert pipeline.catalog(site).success
    assert pipeline.site_day(site).success
    expected = expected_archive(pipeline.sim.site(site), TEST_DAY)
    point = sorted({p for p, _ in expected})[3]
    want = sorted((t, v) for (p, t), v in expected.items() if p == point)
    start, end = day_window(TEST_DAY)

    with serve_app(create_app(QueryEngine(pipeline.storage), api_keys="", cors_origins="")) as url:
        body = httpx.get(
            f"{url}/timeseries/query",
            params={"site_name": site, "point": point, "start_time": start.isoformat(), "end_time": int(end.timestamp())},
            timeout=60,
        ).json()
        got = [(s["timestamp"], s["value"]) for s in body["samples"]]
        assert got == [(t // 1000, v) for t, v in want] and len(got) > 100
        assert body["metadata"]["source"] == "archive" and body["metadata"]["files_read"] == 1

        # Every export format carries the simulator's samples of that point, at full resolution.
        truth = samples_from_mapping({k: v for k, v in expected.items() if k[0] == point})
        for fmt in EXPORT_FORMATS:
            answer = httpx.get(
                f"{url}/timeseries/query",
                params={"site_name": site, "point": point, "start_time": start.isoformat(), "end_time": end.isoformat(),
                        "format": fmt},
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
            assert_same_samples(frame_from_export(fmt, answer.content), truth, resolution="ms" if fmt == "json" else "us",
                                label=f"{site} {fmt}")

        hourly = httpx.get(
            f"{url}/timeseries/query",
            params={"site_name": site, "point": point, "start_time": start.isoformat(),
                    "end_time": (start + timedelta(hours=6)).isoformat(), "interval": "1hr", "agg": "max"},
            timeout=60,
        ).json()
        want_max = [max(v for t, v in want if h * 3_600_000_000 <= t - int(start.timestamp() * 1e6) < (h + 1) * 3_600_000_000) for h in range(6)]
        assert [s["value"] for s in hourly["samples"]] == want_max
        hour_ms = [int((start + timedelta(hours=h)).timestamp() * 1000) for h in range(6)]
        assert [(s["point_name"], s["timestamp"]) for s in hourly["samples"]] == [(point, t) for t in hour_ms]
