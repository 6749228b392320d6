"""`bv serve`'s app (bv_query/serve_app.py): /timeseries/query answered before FastAPI is
imported, every other route through the full app built on first use — the same answers,
byte for byte, as the FastAPI app the rest of the suite tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support.fixtures_query import SYN_POINTS, SYN_SITE, build_synthetic_site, serve_app

from bv_config.settings import Settings
from bv_query import QueryEngine
from bv_query.api import create_app
from bv_query.serve_app import create_serve_app

ROOT = Path(__file__).resolve().parents[2]
KEY_ALL = "k-all-0123456789abcdef"
KEY_OTHER = "k-other-0123456789abcdef"
KEYS = f"{KEY_ALL},{KEY_OTHER}:other_site"
ORIGIN = "https://ops.example"
WINDOW = {"start_time": "2025-03-09T00:00:00Z", "end_time": "2025-03-09T06:00:00Z"}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from bv_store.storage import Storage

    root = tmp_path_factory.mktemp("serve_app_store")
    build_synthetic_site(Storage.from_url(str(root)))
    return root


def settings_for(root: Path) -> Settings:
    return Settings.load({"BV_STORAGE_URL": str(root), "BV_API_KEYS": KEYS, "BV_CORS_ORIGINS": ORIGIN,
                          "BV_HOME": str(root / "home")})


REQUESTS = [
    # (path, params, key)
    ("/timeseries/query", {"site_name": SYN_SITE, "point_names": SYN_POINTS[0], **WINDOW}, KEY_ALL),
    ("/timeseries/query", {"site_name": SYN_SITE, "point_names": ",".join(SYN_POINTS[:3]), "interval": "1h", **WINDOW}, KEY_ALL),
    ("/timeseries/query", {"site_name": SYN_SITE, "point_names": SYN_POINTS[0], "format": "csv", **WINDOW}, KEY_ALL),
    ("/timeseries/query", {"site_name": SYN_SITE, "point_names": SYN_POINTS[0], "format": "parquet", **WINDOW}, KEY_ALL),
    ("/timeseries/query", {"site_name": SYN_SITE, **WINDOW}, KEY_ALL),  # 400 point_names
    ("/timeseries/query", {"site_name": SYN_SITE, "point_names": SYN_POINTS[0], "start_time": "yesterday"}, KEY_ALL),
    ("/timeseries/query", {"site_name": "no_such_site", "point_names": "x", **WINDOW}, KEY_ALL),  # 404
    ("/timeseries/query", {"site_name": SYN_SITE, "point_names": SYN_POINTS[0], **WINDOW}, None),  # 401
    ("/timeseries/query", {"site_name": SYN_SITE, "point_names": SYN_POINTS[0], **WINDOW}, "wrong-key"),
    ("/timeseries/query", {"site_name": SYN_SITE, "point_names": SYN_POINTS[0], **WINDOW}, KEY_OTHER),  # 403
    ("/health", {}, None),
    ("/sites", {}, KEY_ALL),
    (f"/sites/{SYN_SITE}/points", {"q": "temp"}, KEY_ALL),
    ("/openapi.json", {}, None),
    ("/no/such/path", {}, None),
]


def fetch(url: str) -> list[tuple[int, dict, bytes]]:
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for path, params, key in REQUESTS:
            headers = {"Origin": ORIGIN}
            if key:
                headers["Authorization"] = f"Bearer {key}"
            r = client.get(path, params=params, headers=headers)
            kept = {h: r.headers.get(h) for h in ("content-type", "www-authenticate", "access-control-allow-origin",
                                                  "x-bv-rows", "x-bv-source", "content-disposition")}
            out.append((r.status_code, kept, _untimed(r)))
    return out


def _untimed(r: httpx.Response):
    """The body, less the query's own wall time (which differs run to run)."""
    if not r.headers.get("content-type", "").startswith("application/json"):
        return r.content
    body = r.json()
    if isinstance(body.get("metadata"), dict):
        body["metadata"].pop("query_time_ms", None)
    return body


def test_serve_app_answers_as_the_fastapi_app(store):
    settings = settings_for(store)
    with serve_app(create_serve_app(settings)) as url:
        ours = fetch(url)
    full = create_app(QueryEngine.from_settings(settings), api_keys=KEYS, cors_origins=ORIGIN, settings=settings)
    with serve_app(full) as url:
        theirs = fetch(url)
    statuses = [s for s, _, _ in ours]
    assert statuses == [200, 200, 200, 200, 400, 400, 404, 401, 401, 403, 200, 200, 200, 200, 404], statuses
    for (path, params, _), mine, reference in zip(REQUESTS, ours, theirs):
        assert mine == reference, f"{path} {params}: bv serve's app answered differently from the FastAPI app"
    assert ours[0][1]["access-control-allow-origin"] == ORIGIN
    assert ours[7][1]["www-authenticate"] == "Bearer"
    assert ours[0][2]["samples"], "the hot route answered no samples"


def test_first_chart_answer_does_not_import_fastapi(store):
    """The point of the split: a fresh server answers a chart query without FastAPI/pydantic,
    and builds them when another route is first asked for."""
    script = f"""
import sys
from starlette.testclient import TestClient
from bv_query.serve_app import create_serve_app
with TestClient(create_serve_app()) as client:
    r = client.get("/timeseries/query", params={json.dumps({"site_name": SYN_SITE, "point_names": SYN_POINTS[0], **WINDOW})})
    assert r.status_code == 200 and r.json()["samples"], r.text
    print("after query", "fastapi" in sys.modules, "pydantic" in sys.modules)
    assert client.get("/health").status_code == 200
    print("after health", "fastapi" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BV_")}
    env.update(BV_STORAGE_URL=str(store), BV_HOME=str(store / "home"), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "after query False False" in done.stdout, done.stdout
    assert "after health True" in done.stdout, done.stdout
