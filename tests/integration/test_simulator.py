"""The ACE simulator over real HTTP (httpx): envelopes, cursor paging, clock, auth, faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import httpx
import orjson
import pytest

from bv_sim.clock import SimClock
from bv_sim.faults import FaultConfig
from bv_sim.sites import PointSpec, SiteSpec, reference_site
from bv_sim.timeseries import encode_cursor

DAY = datetime(2025, 6, 3, tzinfo=timezone.utc)
NEXT = DAY + timedelta(days=1)
ISO = "%Y-%m-%dT%H:%M:%SZ"


def client(sim, token) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def ts_params(start=DAY, end=NEXT, page_size=50000, **extra) -> dict:
    return {"start_time": start.strftime(ISO) if isinstance(start, datetime) else start,
            "end_time": end.strftime(ISO) if isinstance(end, datetime) else end,
            "page_size": page_size, "raw_data": "true", **extra}


def walk(c: httpx.Client, site="demo_office", max_pages=10_000, **kw) -> tuple[list[tuple], list[dict]]:
    """Follow the cursor to the end -> (rows, page bodies)."""
    params = ts_params(**kw)
    rows, pages = [], []
    cursor = None
    for _ in range(max_pages):
        p = dict(params, **({"cursor": cursor} if cursor else {}))
        r = c.get(f"/sites/{site}/timeseries/paginated", params=p)
        assert r.status_code == 200, r.text
        body = orjson.loads(r.content)
        assert set(body) == {"point_samples", "next_cursor", "has_more"}
        pages.append(body)
        rows.extend((s["name"], s["value"], s["time"]) for s in body["point_samples"])
        if not (body["has_more"] and body["next_cursor"]):
            return rows, pages
        cursor = body["next_cursor"]
    raise AssertionError("cursor walk did not end")


# ------------------------------------------------------------------------------ catalog
def test_sites_envelope_and_site(ace_sim_session, sim_token):
    with client(ace_sim_session, sim_token) as c:
        body = c.get("/sites/", params={"page": 1, "per_page": 2, "collect_enabled": "true"}).json()
        assert set(body) == {"page", "pages", "per_page", "total", "items"}
        assert (body["page"], body["pages"], body["per_page"], body["total"]) == (1, 1, 2, 2)
        assert [s["name"] for s in body["items"]] == ["demo_office", "demo_school"]
        site = c.get("/sites/demo_office").json()
        assert site == body["items"][0]
        assert {"id", "name", "client", "nice_name", "address", "latitude", "longitude", "geo_location",
                "archived"} <= set(site) and site["client"] == "bvdemo" and site["archived"] is False
        r = c.get("/sites/nowhere")
        assert r.status_code == 404 and "msg" in r.json()
        for bad in (3, 0, "x"):
            r = c.get("/sites/", params={"per_page": bad})
            assert r.status_code == 400 and "per_page" in r.json()["msg"]


@pytest.mark.parametrize("route", ["points", "configured_points"])
def test_points_paged_like_the_model(ace_sim_session, sim_token, route):
    model = ace_sim_session.site("demo_office")
    expected = model.points() if route == "points" else model.configured_points()
    got, page = [], 1
    with client(ace_sim_session, sim_token) as c:
        while True:
            body = c.get(f"/sites/demo_office/{route}", params={"page": page, "per_page": 20}).json()
            assert body["total"] == len(expected) and body["pages"] == -(-len(expected) // 20)
            got += body["items"]
            if page >= body["pages"] or not body["items"]:
                break
            page += 1
        assert c.get(f"/sites/nowhere/{route}").status_code == 404
    assert got == expected
    assert 40 <= len(model.points()) <= 120
    if route == "configured_points":
        assert all(p["collect_enabled"] for p in got) and len(got) < len(model.points())
    keys = {"id", "name", "site", "client", "point_type", "collect_enabled", "collect_interval", "marker_tags",
            "kv_tags", "bacnet_data", "created", "updated"}
    assert all(keys <= set(p) for p in got)
    assert any(p["bacnet_data"] is None for p in got) and any(p["marker_tags"] is None for p in got)
    assert sum(1 for p in got if p["bacnet_data"] and "object_units" in p["bacnet_data"]) >= 20
    names = [p["name"] for p in got]
    assert "bvdemo/demo_office/192.168.1.5/n4/AHU 1/Supply Temp #2" in names
    assert "bvdemo/demo_office/8000:33-8033/analogValue/102" in names
    assert {p["collect_interval"] for p in got} >= {30, 60, 300}


def test_point_by_percent_encoded_name(ace_sim_session, sim_token):
    name = "bvdemo/demo_office/192.168.1.5/n4/AHU 1/Supply Temp #2"
    with client(ace_sim_session, sim_token) as c:
        assert c.get(f"/points/{quote(name, safe='')}").json()["name"] == name
        r = c.get(f"/points/{quote(name, safe='')}/timeseries",
                  params={"start_time": "2025-06-03T00:00:00Z", "end_time": "2025-06-03T01:00:00Z"})
        expected = [s for s in ace_sim_session.site("demo_office").samples(DAY, DAY + timedelta(hours=1)) if s[0] == name]
        assert [(s["name"], s["value"], s["time"]) for s in r.json()["point_samples"]] == expected
        assert len(expected) == 60
        r = c.post("/points/get_timeseries", params={"start_time": "2025-06-03T00:00:00Z",
                   "end_time": "2025-06-03T01:00:00Z"}, json={"points": [{"name": name}]})
        assert [(s["name"], s["value"], s["time"]) for s in r.json()["point_samples"]] == expected


# ------------------------------------------------------------------------------ auth
def test_auth_missing_or_wrong_token_is_401_without_echo(ace_sim_session, sim_token):
    url = ace_sim_session.base_url + "/sites/"
    assert httpx.get(url).status_code == 401
    wrong = "not-the-token-" + "x" * 20
    r = httpx.get(url, headers={"Authorization": f"Bearer {wrong}"})
    assert r.status_code == 401 and "msg" in r.json() and wrong not in r.text and sim_token not in r.text
    r = httpx.get(ace_sim_session.base_url + "/sites/demo_office/timeseries/paginated", params=ts_params(),
                  headers={"Authorization": f"Token {sim_token}"})
    assert r.status_code == 401 and sim_token not in r.text


# ------------------------------------------------------------------------------ timeseries
def test_cursor_walk_returns_every_sample_once_in_order(ace_sim_session, sim_token):
    model = ace_sim_session.site("demo_office")
    expected = model.samples(DAY, NEXT)
    with client(ace_sim_session, sim_token) as c:
        rows, pages = walk(c, page_size=10000)
    assert rows == expected
    assert len(rows) > 100_000 and len(set((n, t) for n, _, t in rows)) == len(rows)
    assert all(a[2] <= b[2] for a, b in zip(rows, rows[1:]))
    assert len(pages) == -(-len(rows) // 10000) + (len(rows) % 10000 == 0)
    assert pages[-1]["has_more"] is False and pages[-1]["next_cursor"] is None
    assert all(len(p["point_samples"]) == 10000 and p["has_more"] for p in pages[:-1])
    # The data looks like a BMS: every collected and not collected point, state words, gaps.
    assert {n for n, _, _ in rows} == {p["name"] for p in model.points()}
    values = [v for _, v, _ in rows]
    assert None in values and "nan" in values
    assert {"true", "false", "active", "inactive", "on", "off"} <= set(values)
    assert rows[0][2].startswith("2025-06-03T00:00:") and len(rows[0][2]) == 26 and rows[0][2][19] == "."
    per_time = {}
    for _, _, t in rows:
        per_time[t] = per_time.get(t, 0) + 1
    assert max(per_time.values()) >= 10  # many points share one scrape time
    assert any(n.endswith("/weather/temp") for n, _, _ in rows)


def test_meters_are_monotonic_and_cov_points_irregular(ace_sim_session):
    rows = ace_sim_session.site("demo_office").samples(DAY, NEXT)
    kwh = [float(v) for n, v, _ in rows if n.endswith("Main Meter/kWh Total")]
    assert len(kwh) == 1440 and all(a <= b for a, b in zip(kwh, kwh[1:])) and kwh[-1] > kwh[0]
    occ = [datetime.fromisoformat(t) for n, _, t in rows if n == "bvdemo/demo_office/8000:33-8033/binaryValue/5"]
    gaps = {round((b - a).total_seconds()) for a, b in zip(occ, occ[1:])}
    assert len(occ) > 20 and len(gaps) > 10
    temp = [datetime.fromisoformat(t) for n, _, t in rows if n == "bvdemo/demo_office/8000:33-8033/analogInput/1"]
    deltas = [(b - a).total_seconds() for a, b in zip(temp, temp[1:])]
    assert len(temp) == 1440 and all(55 < d < 65 for d in deltas) and len(set(deltas)) > 100  # jitter


def test_window_start_inclusive_end_exclusive_and_naive_or_offset_times(ace_sim_session, sim_token):
    model = ace_sim_session.site("demo_school")
    rows = model.samples(DAY, DAY + timedelta(hours=1))
    t_a, t_b = rows[100][2], rows[500][2]  # exact sample times, naive ISO with microseconds
    with client(ace_sim_session, sim_token) as c:
        got, _ = walk(c, site="demo_school", start=t_a, end=t_b, page_size=50)
        assert got == [r for r in rows if t_a <= r[2] < t_b]
        assert got[0][2] == t_a and all(r[2] != t_b for r in got)
        offset, _ = walk(c, site="demo_school", start="2025-06-03T02:00:00+02:00",
                         end="2025-06-03T01:00:00+00:00", page_size=5000)
    assert offset == rows


def test_page_size_cursor_and_raw_data_validation(ace_sim_session, sim_token):
    path = "/sites/demo_office/timeseries/paginated"
    with client(ace_sim_session, sim_token) as c:
        for size in (7, 20000, 0):
            r = c.get(path, params=ts_params(page_size=size))
            assert r.status_code == 400 and "page_size" in r.json()["msg"]
        for bad in ("garbage!!", encode_cursor(0, 0)[:-3], "eyJmb28iOiAxfQ==",
                    encode_cursor(0, int((DAY - timedelta(days=3)).timestamp() * 1e6))):
            r = c.get(path, params=ts_params(cursor=bad))
            assert r.status_code == 400 and "cursor" in r.json()["msg"].lower()
        assert c.get(path, params={**ts_params(), "raw_data": "false"}).status_code == 400
        assert c.get(path, params={"end_time": "2025-06-04T00:00:00Z", "page_size": 10}).status_code == 400
        assert c.get("/sites/nowhere/timeseries/paginated", params=ts_params()).status_code == 404
        empty = c.get(path, params=ts_params(start=DAY, end=DAY)).json()
        assert empty == {"point_samples": [], "next_cursor": None, "has_more": False}


def test_same_request_same_bytes(ace_sim_session, make_ace_sim, sim_token):
    other = make_ace_sim()
    params = ts_params(page_size=5000)
    with client(ace_sim_session, sim_token) as c, client(other, sim_token) as c2:
        first = c.get("/sites/demo_school/timeseries/paginated", params=params)
        again = c.get("/sites/demo_school/timeseries/paginated", params=params)
        elsewhere = c2.get("/sites/demo_school/timeseries/paginated", params=params)
        p2 = dict(params, cursor=first.json()["next_cursor"])
        assert c.get("/sites/demo_school/timeseries/paginated", params=p2).content == \
            c2.get("/sites/demo_school/timeseries/paginated", params=p2).content
    assert first.content == again.content == elsewhere.content
    assert int(first.headers["content-length"]) == len(first.content)


def test_clock_clips_and_admin_moves_it_across_midnight(make_ace_sim, sim_token):
    sim = make_ace_sim(clock=SimClock(fixed=DAY + timedelta(hours=23, minutes=50)))
    model = sim.site("demo_office")
    with client(sim, sim_token) as c:
        rows, _ = walk(c, start=DAY, end=NEXT + timedelta(hours=1))
        assert rows == model.samples(DAY, DAY + timedelta(hours=23, minutes=50))
        admin = sim.base_url.replace("/api", "/_sim")
        r = httpx.post(f"{admin}/clock", json={"advance_seconds": 1200})
        assert r.json()["now"].startswith("2025-06-04T00:10:00")
        rows2, _ = walk(c, start=DAY, end=NEXT + timedelta(hours=1))
        assert rows2 == model.samples(DAY, NEXT + timedelta(minutes=10))
        assert any(t >= "2025-06-04" for _, _, t in rows2)
        httpx.post(f"{admin}/clock", json={"now": "2025-06-03T00:00:00Z"})
        assert walk(c, start=DAY, end=NEXT)[0] == []
        assert httpx.post(f"{admin}/clock", json={"real_time": True}).json()["real_time"] is True
        assert abs(sim.clock.now() - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_weather_endpoint_and_points(make_ace_sim, sim_token):
    sim = make_ace_sim(clock=SimClock(fixed=DAY + timedelta(hours=12)))
    with client(sim, sim_token) as c:
        weather = c.get("/sites/demo_office/weather").json()["weather"]
    assert set(weather) == {"temp", "feels_like", "pressure", "humidity", "dew_point", "clouds", "wind_speed",
                            "wind_deg", "wet_bulb"}
    temp = weather["temp"]
    assert temp["name"] == "bvdemo/demo_office/weather/temp"
    assert "2025-06-03T11:50" <= temp["time"] < "2025-06-03T12:00" and float(temp["value"])
    rows = sim.site("demo_office").samples(DAY + timedelta(hours=11), DAY + timedelta(hours=12))
    assert (temp["name"], temp["value"], temp["time"]) == [r for r in rows if r[0] == temp["name"]][-1]


def test_reference_and_custom_sites(make_ace_sim, sim_token):
    tiny = SiteSpec(name="tiny", client="bvtest", n_points=3)
    ref = reference_site(n_points=120, name="ref_small")
    odd = SiteSpec(name="odd", archived=True, points=[PointSpec(path="dev/x", kind="onoff", cov=True)])
    sim = make_ace_sim(sites=[tiny, ref, odd], clock=SimClock(fixed=NEXT))
    with client(sim, sim_token) as c:
        rows, _ = walk(c, site="tiny", page_size=1000)
        assert len(rows) == 3 * 1440 and rows == sim.site("tiny").samples(DAY, NEXT)
        ref_rows, _ = walk(c, site="ref_small", start=DAY + timedelta(hours=1), end=DAY + timedelta(hours=3))
        assert len(ref_rows) == 120 * 120
        names = [s["name"] for s in c.get("/sites/", params={"per_page": 10}).json()["items"]]
        assert names == ["tiny", "ref_small"]
        shown = c.get("/sites/", params={"per_page": 10, "show_archived": "true"}).json()["items"]
        assert [s["name"] for s in shown] == ["tiny", "ref_small", "odd"]
    model = sim.site("ref_small")
    assert all(p["collect_enabled"] and p["collect_interval"] == 60 for p in model.points())
    assert len(model.configured_points()) == 120


# ------------------------------------------------------------------------------ faults
def test_fault_reject_token(ace_sim, sim_token):
    ace_sim.set_faults(FaultConfig(reject_token=True))
    with client(ace_sim, sim_token) as c:
        r = c.get("/sites/demo_office")
    assert r.status_code == 401 and r.json() == {"msg": "Token has expired"}


def test_fault_rate_limit_and_server_errors_every_nth(ace_sim, sim_token):
    ace_sim.set_faults(FaultConfig(rate_limit_every=3))
    with client(ace_sim, sim_token) as c:
        rs = [c.get("/sites/demo_office") for _ in range(6)]
        assert [r.status_code for r in rs] == [200, 200, 429, 200, 200, 429]
        assert rs[2].headers["retry-after"] == "1"
        ace_sim.set_faults(FaultConfig(rate_limit_every=2, retry_after_s=0))
        assert [c.get("/sites/").headers.get("retry-after") for _ in range(2)] == [None, "0"]
        ace_sim.set_faults(FaultConfig(server_error_every=2))
        rs = [c.get("/sites/demo_office") for _ in range(8)]
    assert [r.status_code for r in rs] == [200, 500, 200, 502, 200, 503, 200, 500]
    assert rs[1].json() == {"msg": "Internal Server Error"} and "<html>" in rs[3].text
    assert [s for _, _, s in ace_sim.request_log[-8:]] == [r.status_code for r in rs]


def test_fault_truncated_body_above_page_size(ace_sim, sim_token):
    ace_sim.set_faults(FaultConfig(truncate_above_page_size=1000))
    with client(ace_sim, sim_token) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/sites/demo_office/timeseries/paginated", params=ts_params(page_size=5000))
        r = c.get("/sites/demo_office/timeseries/paginated", params=ts_params(page_size=1000))
        assert r.status_code == 200 and len(r.json()["point_samples"]) == 1000


def test_fault_slow(ace_sim, sim_token):
    ace_sim.set_faults(FaultConfig(slow_s=0.3))
    with client(ace_sim, sim_token) as c:
        t0 = time.perf_counter()
        assert c.get("/sites/demo_office").status_code == 200
    assert time.perf_counter() - t0 >= 0.3


def test_fault_resend_overlap(ace_sim, sim_token):
    expected = ace_sim.site("demo_school").samples(DAY, NEXT)
    ace_sim.set_faults(FaultConfig(resend_overlap=7))
    with client(ace_sim, sim_token) as c:
        rows, pages = walk(c, site="demo_school", page_size=10000)
    assert len(pages) > 3
    for prev, page in zip(pages, pages[1:]):
        if page["point_samples"]:
            assert page["point_samples"][:7] == prev["point_samples"][-7:]
    assert len(rows) > len(expected)
    assert list(dict.fromkeys(rows)) == expected  # drop re-sent rows: exactly the day, in order


@pytest.mark.parametrize("mode", ["404", "200"])
def test_fault_empty_window(ace_sim, sim_token, mode):
    ace_sim.set_faults(FaultConfig(empty_window=mode))
    with client(ace_sim, sim_token) as c:
        r = c.get("/sites/demo_office/timeseries/paginated", params=ts_params())
    if mode == "404":
        assert r.status_code == 404 and r.json() == {"msg": "No data for time period"}
    else:
        assert r.status_code == 200
        assert r.json() == {"point_samples": [], "next_cursor": None, "has_more": False}


def test_fault_empty_pages_still_carry_a_new_cursor(ace_sim, sim_token):
    expected = ace_sim.site("demo_school").samples(DAY, NEXT)
    ace_sim.set_faults(FaultConfig(empty_page_every=2))
    with client(ace_sim, sim_token) as c:
        rows, pages = walk(c, site="demo_school", page_size=10000)
    assert rows == expected
    empty = [i for i, p in enumerate(pages) if not p["point_samples"]]
    assert empty[:3] == [1, 3, 5]
    for i in empty[:-1]:
        assert pages[i]["has_more"] is True and pages[i]["next_cursor"] not in (None, pages[i - 1]["next_cursor"])


def test_admin_endpoints_set_faults_and_report_state(ace_sim, sim_token):
    admin = ace_sim.base_url.replace("/api", "/_sim")
    state = httpx.post(f"{admin}/faults", json={"rate_limit_every": 1, "retry_after_s": 0}).json()
    assert state["faults"]["rate_limit_every"] == 1 and ace_sim.faults.rate_limit_every == 1
    with client(ace_sim, sim_token) as c:
        assert c.get("/sites/").status_code == 429
    assert httpx.post(f"{admin}/faults", json={"no_such_fault": 1}).status_code == 400
    httpx.post(f"{admin}/faults", json={})
    state = httpx.get(f"{admin}/state").json()
    assert state["faults"] == FaultConfig().to_dict() and [s["name"] for s in state["sites"]] == [
        "demo_office", "demo_school"]
    assert sim_token not in str(state) and sim_token not in repr(ace_sim)


# ------------------------------------------------------------------------------ CLI
def test_cli_serves_until_sigterm_and_requires_a_token(sim_token):
    env = {k: v for k, v in os.environ.items() if k != "ACE_API_KEY"}
    cmd = [sys.executable, "-m", "bv_sim", "--port", "0", "--sites", "demo+reference", "--reference-points", "50",
           "--fault", "rate_limit_every=2", "--fault", "retry_after_s=0", "--clock", "2025-06-04T00:00:00Z"]
    missing = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and "ACE_API_KEY" in missing.stderr
    proc = subprocess.Popen(cmd, env={**env, "ACE_API_KEY": sim_token}, stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        base = first.rsplit(" ", 1)[-1]
        assert base.startswith("http://127.0.0.1:") and base.endswith("/api")
        lines = [proc.stdout.readline() for _ in range(3)]
        assert [ln.split()[1] for ln in lines] == ["demo_office", "demo_school", "ref_site"]
        h = {"Authorization": f"Bearer {sim_token}"}
        assert [httpx.get(f"{base}/sites/", headers=h).status_code for _ in range(2)] == [200, 429]
        state = httpx.get(base.replace("/api", "/_sim/state")).json()
        assert state["now"].startswith("2025-06-04T00:00:00") and state["real_time"] is False
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
