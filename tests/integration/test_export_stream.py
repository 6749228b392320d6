"""Raw CSV exports are streamed a day at a time (bv_query/export.py): a large export through a
real uvicorn server holds exactly the stored rows, in time order; its first bytes reach the
client while the server has not yet read the last day; and a failure mid-stream cuts the
response instead of ending it cleanly. The client is http.client on a socket with a small
receive buffer, so the server cannot run far ahead of what the client has read."""

from __future__ import annotations

import http.client
import io
import socket
from datetime import date, timedelta
from urllib.parse import urlencode, urlparse

import numpy as np
import pandas as pd
import pytest
from support.fixtures_query import _write, serve_app, write_catalog
from support.oracles import assert_same_samples, frame_from_export

from bv_query import QueryEngine
from bv_query.api import create_app
from bv_store.layout import archive_key, live_part_key

SITE = "exp_site"
POINTS = sorted([f"exp/dev{i // 6}/analogInput/{i}" for i in range(19)] + ['exp/dev9/analogValue/9, with "quote"'])
LIVE_DAY = date(2025, 4, 1)  # the first day is live (two overlapping sync parts), the rest archived
# A day is ~2 MB of CSV; the server can run at most ~9 MB ahead of this client (kernel send
# buffer <= 4 MB, the client's 32 KB, one chunk in uvicorn, one being made): ~4 days, not 12.
ARCHIVED = [LIVE_DAY + timedelta(days=k) for k in range(1, 12)]
LAST = ARCHIVED[-1]
FIRST_READ = 64 * 1024


def _day(day: date, rng: np.random.Generator) -> pd.DataFrame:
    """~1-minute irregular samples (microseconds) of every point, sorted by (point, ts)."""
    start = pd.Timestamp(day, tz="UTC")
    frames = []
    for point in POINTS:
        offsets = np.sort(rng.choice(86_400_000_000, size=1440, replace=False))
        frames.append(pd.DataFrame({"point": point, "ts": start + pd.to_timedelta(offsets, unit="us"),
                                    "value": np.round(rng.normal(70, 5, size=1440), 4)}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def export_store(local_storage):
    """(storage, truth): 20 points x 12 days, ~345 k samples, ~25 MB of CSV."""
    rng = np.random.default_rng(11)
    truth = []
    for day in ARCHIVED:
        frame = _day(day, rng)
        _write(local_storage, archive_key(SITE, day), frame)
        truth.append(frame)
    live = _day(LIVE_DAY, rng)
    noon = pd.Timestamp(LIVE_DAY, tz="UTC") + pd.Timedelta(hours=12)
    first, second = live[live.ts < noon + pd.Timedelta(hours=1)], live[live.ts >= noon]  # an hour re-sent
    for part, token in ((first, "a"), (second, "b")):
        end_us = int(part.ts.max().value // 1000)
        _write(local_storage, live_part_key(SITE, LIVE_DAY, end_us, token), part.sort_values(["point", "ts"]))
    truth.append(live)
    write_catalog(local_storage, SITE, POINTS)
    return local_storage, pd.concat(truth, ignore_index=True)


def _open_export(url: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    where = urlparse(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # before connect: no autotuning
    sock.connect((where.hostname, where.port))
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    conn.sock = sock
    query = urlencode([("site_name", SITE), ("start_time", LIVE_DAY.isoformat()),
                       ("end_time", (LAST + timedelta(days=1)).isoformat()), ("format", "csv")]
                      + [("point", p) for p in POINTS])
    conn.request("GET", f"/timeseries/query?{query}")
    response = conn.getresponse()
    assert response.status == 200, response.read()[:300]
    assert response.getheader("content-type").startswith("text/csv")
    assert response.getheader("transfer-encoding") == "chunked" and response.getheader("content-length") is None
    return conn, response


def test_large_export_streams_the_stored_rows_while_the_server_still_reads(export_store):
    storage, truth = export_store
    with serve_app(create_app(QueryEngine(storage), api_keys="", cors_origins="")) as url:
        conn, response = _open_export(url)
        body = io.BytesIO()
        body.write(response.read(FIRST_READ))
        # The first bytes are here. Re-materialize the last day now (new values, atomically):
        # a server that had built the whole answer first would send the old values.
        changed = truth[truth.ts.dt.date == LAST].copy()
        changed["value"] += 1000.0
        _write(storage, archive_key(SITE, LAST), changed.sort_values(["point", "ts"]))
        while chunk := response.read(1 << 20):
            body.write(chunk)
        conn.close()
    content = body.getvalue()
    want = pd.concat([truth[truth.ts.dt.date != LAST], changed], ignore_index=True)
    rows = content.count(b"\n") - 1
    assert rows == len(want), f"{rows} rows exported, {len(want)} stored"
    got = frame_from_export("csv", content)
    assert_same_samples(got, want, label="streamed csv")
    order = got[["ts", "point"]]
    assert order.equals(order.sort_values(["ts", "point"], kind="stable", ignore_index=True)), "rows not in (ts, point) order"


def test_a_failure_mid_export_cuts_the_response(export_store):
    storage, _ = export_store
    with serve_app(create_app(QueryEngine(storage), api_keys="", cors_origins="")) as url:
        conn, response = _open_export(url)
        received = len(response.read(FIRST_READ))
        (storage.root / archive_key(SITE, LAST)).write_bytes(b"not a parquet file")  # a broken day file
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            while chunk := response.read(1 << 20):
                received += len(chunk)
        conn.close()
    assert received > FIRST_READ  # the days before the broken one went out; the end never did
