"""The chart page's other views end to end in headless Chromium (Debian's /usr/bin/chromium
driven by Playwright, as in test_chart_page.py): the day × hour heatmap of one point, live
mode of the chart, and the health view of a site. Each runs against a real app on loopback
and checks what the page shows against an answer computed here (pandas over the synthetic
site's `truth`, or the health data the test serves), with no console error and no request
that leaves loopback. BV_SAVE_SCREENSHOT=1 also writes docs/heatmap.png, docs/live-mode.png
and docs/health-view.png.

The health view is tested against the contract of `GET /sites/{site}/health?date=`: a
test-only route put in front of the real app's routes returns data shaped like it (without a
date, the newest day). The page's message when there is no health data (or no endpoint yet)
is tested on the plain app.
(Over 400 lines on purpose: the three views share one browser and page helpers.)
"""

from __future__ import annotations

import os
import re
import time
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.responses import JSONResponse
from support.fixtures_query import _write, SYN_POINTS, SYN_SITE, serve_app, write_catalog
from test_chart_page import REPO, STATIC, Watch, browser, wait_drawn  # noqa: F401  (browser: the fixture)

from bv_query import QueryEngine
from bv_query.api import create_app
from bv_store.layout import archive_key, live_part_key, points_key
from bv_store.schemas import CATALOG_SCHEMA

pytestmark = pytest.mark.slow

HOUR = pd.Timedelta(hours=1)
SAVE = os.environ.get("BV_SAVE_SCREENSHOT") == "1"


def open_view(browser, url: str, height: int = 760):
    # UTC so "today" and the date inputs do not depend on the machine's zone.
    page = browser.new_page(viewport={"width": 1300, "height": height}, timezone_id="UTC")
    watch = Watch(page)
    page.goto(url)
    return page, watch


def query_of(page) -> dict:
    return parse_qs(urlparse(page.url).query)


def console_errors(watch, *allowed_statuses: int) -> list[str]:
    """Console errors, except Chromium's own line for an HTTP status the test provoked."""
    lines = [f"the server responded with a status of {s}" for s in allowed_statuses]
    return [e for e in watch.errors if not any(line in e for line in lines)]


def app_for(storage):
    return create_app(QueryEngine(storage), api_keys="", cors_origins="")


# ---- heatmap -------------------------------------------------------------------------------

def hourly_means(truth: pd.DataFrame, point: str) -> pd.Series:
    """The expected cells: pandas' mean of each UTC hour that has samples."""
    frame = truth[truth.point == point]
    return frame.groupby(frame.ts.dt.floor("1h")).value.mean()


def wait_heatmap(page, rows: int) -> dict:
    page.wait_for_function(
        "n => { const c = document.querySelector('#heat'), s = document.querySelector('#status');"
        " return c.dataset.rows === String(n) && !s.textContent.startsWith('Loading'); }",
        arg=rows,
    )
    return page.eval_on_selector("#heat", "c => ({...c.dataset})")


def painted_cells(page) -> list[str]:
    """Per day row, per hour: '#' a colour, '.' the grey 'no data' hatch, ' ' nothing painted,
    read from the canvas pixels at each cell's centre."""
    return page.eval_on_selector(
        "#heat",
        "c => { const d = c.dataset, dpr = c.width / parseFloat(c.style.width), ctx = c.getContext('2d'), out = [];"
        " for (let r = 0; r < +d.rows; r++) { let row = '';"
        "  for (let h = 0; h < 24; h++) {"
        "   const x = Math.floor((+d.left + (h + 0.5) * +d.cellW) * dpr), y = Math.floor((+d.top + (r + 0.5) * +d.cellH) * dpr);"
        "   const [R, G, B, A] = ctx.getImageData(x, y, 1, 1).data;"
        "   row += A === 0 ? ' ' : (R === G && G === B) ? '.' : '#'; }"
        "  out.push(row); } return out; }",
    )


def expected_cells(means: pd.Series, first_day: date, days: int) -> list[str]:
    start = pd.Timestamp(first_day, tz="UTC")
    have = set(means.index)
    return ["".join("#" if start + pd.Timedelta(days=d, hours=h) in have else "." for h in range(24)) for d in range(days)]


def hover_cell(page, row: int, hour: int) -> dict:
    """Move the mouse over a cell; the tooltip's day, hour and value text."""
    box = page.locator("#heat").bounding_box()
    d = page.eval_on_selector("#heat", "c => ({...c.dataset})")
    page.mouse.move(box["x"] + float(d["left"]) + (hour + 0.5) * float(d["cellW"]),
                    box["y"] + float(d["top"]) + (row + 0.5) * float(d["cellH"]))
    day = (date.fromisoformat(d["start"]) + timedelta(days=row)).isoformat()
    page.wait_for_function(
        "([day, hour]) => { const t = document.querySelector('#heat-tip');"
        " return !t.hidden && t.dataset.day === day && t.dataset.hour === String(hour); }",
        arg=[day, hour],
    )
    return page.eval_on_selector(
        "#heat-tip", "t => ({day: t.dataset.day, text: t.textContent, value: t.querySelector('.value').textContent})"
    )


def assert_shows(tip: dict, expected: float, unit: str) -> None:
    """The tooltip's value equals `expected` to the precision it is displayed with."""
    match = re.fullmatch(r"(-?\d+)(?:\.(\d+))? " + re.escape(unit), tip["value"])
    assert match, tip
    shown = float(tip["value"].split()[0])
    decimals = len(match.group(2) or "")
    assert abs(shown - expected) <= 0.5 * 10**-decimals + 1e-9, (tip, expected)


def test_heatmap_of_a_synthetic_point(synthetic_site, browser):
    """7 days up to the newest data day (2025-03-11, live): 7 rows × 24 columns, the cells with
    data exactly the hours with samples (archive via rollup, and the live store), the values
    the truth's hourly means, the point's 05–08 h hole and the unarchived days as no data."""
    storage, truth = synthetic_site
    point = SYN_POINTS[1]  # °F, a 3-hour hole (05:00–08:00) every day
    means = hourly_means(truth, point)
    with serve_app(app_for(storage)) as url:
        # From the chart, through the view switch: the URL follows.
        page, watch = open_view(browser, f"{url}/?{urlencode({'site': SYN_SITE, 'point': point})}")
        wait_drawn(page, 1)
        page.click("#views button[data-view='heatmap']")
        wait_heatmap(page, 30)
        assert query_of(page) == {"view": ["heatmap"], "site": [SYN_SITE], "point": [point], "days": ["30"]}
        page.click("[data-days='7']")
        grid = wait_heatmap(page, 7)
        assert query_of(page)["days"] == ["7"]

        assert (grid["rows"], grid["cols"], grid["start"]) == ("7", "24", "2025-03-05"), grid
        assert page.input_value("#heat-until") == "2025-03-11"
        cells = painted_cells(page)
        assert cells == expected_cells(means, date(2025, 3, 5), 7), cells
        assert int(grid["filled"]) == 4 * 21 == sum(row.count("#") for row in cells)
        legend = page.text_content("#heat-legend")
        assert "°F" in legend and "no data" in legend, legend
        assert "UTC" in page.text_content("#heat-title") and "UTC" in page.text_content("#heat-controls")

        q = watch.queries()[-1]
        assert (q["interval"], q["agg"], q["tz"], q["point"]) == (["1h"], ["avg"], ["UTC"], [point]), q
        assert "max_points" not in q  # no downsampling of the hours
        assert int(q["start_time"][0]) == int(pd.Timestamp("2025-03-05", tz="UTC").value // 10**6)
        assert int(q["end_time"][0]) == int(pd.Timestamp("2025-03-12", tz="UTC").value // 10**6)

        # Hover: a rollup day, an archived day, the live day's re-sent hour; then empty cells.
        for row, hour in [(3, 0), (4, 14), (5, 23), (6, 12)]:
            tip = hover_cell(page, row, hour)
            expected = means[pd.Timestamp("2025-03-05", tz="UTC") + pd.Timedelta(days=row, hours=hour)]
            assert_shows(tip, expected, "°F")
            assert f"{hour:02d}:00–{hour + 1:02d}:00 UTC" in tip["text"], tip
        for row, hour in [(4, 6), (0, 10)]:  # the daily hole; a day never archived
            assert hover_cell(page, row, hour)["value"] == "no data"
        page.mouse.move(5, 5)
        page.wait_for_selector("#heat-tip", state="hidden")

        # A year: the longest range the API takes, one row per day.
        page.click("[data-days='365']")
        year = wait_heatmap(page, 365)
        assert year["start"] == "2024-03-12" and int(year["filled"]) == 84
        assert not page.eval_on_selector("#status", "s => s.classList.contains('error')")

        # Back (days are no history entries, the switch of view is): the chart again, with the point.
        drawn_before = page.evaluate("() => state.drawSeq")
        page.go_back()
        page.wait_for_function("n => state.drawSeq > n", arg=drawn_before)
        wait_drawn(page, 1)
        assert "view" not in query_of(page) and query_of(page)["point"] == [point]
        assert page.is_hidden("#heat-view") and page.is_visible("#chart")
        assert console_errors(watch) == [] and watch.foreign == []


PATTERN_SITE = "demo_pattern"
PATTERN_POINT = "demo/vav12/analogInput/3"
PATTERN_FIRST = date(2025, 1, 6)  # a Monday
PATTERN_DAYS = 60
PATTERN_MISSING_DAY = 40  # never archived: a row of no data
PATTERN_OUTAGE = (20, 3, 9)  # day 20, no samples from 03:00 to 09:00


def build_pattern_site(storage) -> pd.DataFrame:
    """One zone temperature over 60 archived days, every 5 minutes: occupied 12–23 h UTC on
    weekdays (with a morning warm-up), set back at night and over weekends."""
    rng = np.random.default_rng(12)
    frames = []
    for d in range(PATTERN_DAYS):
        day = PATTERN_FIRST + timedelta(days=d)
        if d == PATTERN_MISSING_DAY:
            continue
        ts = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=288, freq="5min") + pd.to_timedelta(
            rng.integers(0, 60, 288), unit="s")
        h = (ts.hour + ts.minute / 60).to_numpy()
        weekday = day.weekday() < 5
        night = 64.5 + 1.5 * np.cos(2 * np.pi * h / 24) + 0.02 * d
        occupied = 72 + 0.7 * np.sin(2 * np.pi * (h - 12) / 11) + 0.02 * d
        warmup = night + (occupied - night) * np.clip(h - 10, 0, 2) / 2
        value = np.where(weekday & (h >= 12) & (h < 23), occupied, np.where(weekday & (h >= 10) & (h < 12), warmup, night))
        frame = pd.DataFrame({"point": PATTERN_POINT, "ts": ts, "value": np.round(value + rng.normal(0, 0.25, 288), 2)})
        if d == PATTERN_OUTAGE[0]:
            frame = frame[(frame.ts.dt.hour < PATTERN_OUTAGE[1]) | (frame.ts.dt.hour >= PATTERN_OUTAGE[2])]
        _write(storage, archive_key(PATTERN_SITE, day), frame)
        frames.append(frame)
    rows = [{"name": PATTERN_POINT, "site": PATTERN_SITE, "point_type": "bacnet", "collect_enabled": True,
             "marker_tags": ["sensor", "zone", "temp"], "kv_tags": [("equip", "VAV-12")], "unit": "degreesFahrenheit",
             "bacnet_object_name": "VAV-12 Zone Temp", "bacnet_device_name": "VAV-12"}]
    scratch = storage.new_temp_path(".parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA), scratch)
    storage.put_file(scratch, points_key(PATTERN_SITE))
    scratch.unlink(missing_ok=True)
    return pd.concat(frames, ignore_index=True)


def test_heatmap_over_two_months_of_archive(local_storage, browser, tmp_path):
    """A daily and weekly pattern over 60 archived days (no rollup): every row and hour as the
    archive has it, a missing day and a 6-hour outage as no data, the hover values the truth's."""
    truth = build_pattern_site(local_storage)
    means = hourly_means(truth, PATTERN_POINT)
    last = PATTERN_FIRST + timedelta(days=PATTERN_DAYS - 1)
    with serve_app(app_for(local_storage)) as url:
        link = urlencode({"view": "heatmap", "site": PATTERN_SITE, "point": PATTERN_POINT, "days": PATTERN_DAYS,
                          "until": last.isoformat()})
        page, watch = open_view(browser, f"{url}/?{link}", height=860)
        grid = wait_heatmap(page, PATTERN_DAYS)
        assert grid["start"] == PATTERN_FIRST.isoformat()
        assert query_of(page)["until"] == [last.isoformat()] and query_of(page)["days"] == [str(PATTERN_DAYS)]
        cells = painted_cells(page)
        assert cells == expected_cells(means, PATTERN_FIRST, PATTERN_DAYS)
        assert cells[PATTERN_MISSING_DAY] == "." * 24
        assert cells[PATTERN_OUTAGE[0]] == "###" + "." * 6 + "#" * 15
        day = PATTERN_OUTAGE[0]
        assert hover_cell(page, day, 5)["value"] == "no data"
        for row, hour in [(2, 15), (5, 3), (33, 11), (PATTERN_DAYS - 1, 22)]:  # weekday, weekend, warm-up, last
            assert_shows(hover_cell(page, row, hour),
                         means[pd.Timestamp(PATTERN_FIRST, tz="UTC") + pd.Timedelta(days=row, hours=hour)], "°F")
        assert "°F" in page.text_content("#heat-legend")
        assert "VAV-12 Zone Temp" in page.text_content("#heat-title")

        tip = hover_cell(page, 44, 16)  # for the picture: a weekday afternoon
        assert tip["day"] == (PATTERN_FIRST + timedelta(days=44)).isoformat()
        shot = tmp_path / "heatmap.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
        if SAVE:
            page.screenshot(path=str(REPO / "docs" / "heatmap.png"), full_page=True)
        assert console_errors(watch) == [] and watch.foreign == []


# ---- live mode -----------------------------------------------------------------------------

def write_live(storage, start: pd.Timestamp, end: pd.Timestamp, token: str) -> pd.Timestamp:
    """A live part for SYN_POINTS[0] and [1]: a sample a minute in [start, end]; the newest ts."""
    ts = pd.date_range(start, end, freq="60s")
    if ts[-1] != end:
        ts = ts.append(pd.DatetimeIndex([end]))
    hours = (ts - ts[0].normalize()).total_seconds().to_numpy() / 3600
    frames = [
        pd.DataFrame({"point": SYN_POINTS[0], "ts": ts, "value": np.round(70 + 2 * np.sin(2 * np.pi * hours / 6), 3)}),
        pd.DataFrame({"point": SYN_POINTS[1], "ts": ts, "value": np.round(66 + 4 * np.cos(2 * np.pi * hours / 9), 3)}),
    ]
    frame = pd.concat(frames, ignore_index=True).sort_values(["point", "ts"], ignore_index=True)
    _write(storage, live_part_key(SYN_SITE, end.date(), end.value // 1000, token), frame)
    return end


def age_seconds(page) -> int:
    text = page.text_content("#age")
    match = re.fullmatch(r"newest sample (\d+) s ago", text)
    assert match, text
    return int(match.group(1))


def test_live_mode_requeries_and_shows_the_newest_sample_age(synthetic_site, browser, tmp_path):
    storage, _ = synthetic_site
    now = pd.Timestamp.now(tz="UTC")
    if now.normalize() + pd.Timedelta(days=1) - now < pd.Timedelta(seconds=90):
        time.sleep(95)  # "today" must not end during the test
        now = pd.Timestamp.now(tz="UTC")
    midnight = now.normalize()
    newest = write_live(storage, max(midnight, now - pd.Timedelta(hours=8)).ceil("min"),
                        max(midnight + pd.Timedelta(seconds=1), now - pd.Timedelta(seconds=40)).floor("s"), "a")
    day = [int(midnight.value // 10**6), int((midnight + pd.Timedelta(days=1)).value // 10**6)]
    with serve_app(app_for(storage)) as url:
        link = urlencode([("site", SYN_SITE), ("point", SYN_POINTS[0]), ("point", SYN_POINTS[1]), ("live", "1"),
                          ("refresh", "1")])
        page, watch = open_view(browser, f"{url}/?{link}")
        drawn = wait_drawn(page, 2)
        assert drawn["source"] == "live" and int(drawn["rows"]) > 0 and drawn["text"].startswith("live, every 1 s"), drawn
        assert page.input_value("#from") == f"{midnight:%Y-%m-%d}T00:00"
        assert page.eval_on_selector("#live", "b => b.classList.contains('on')")
        assert query_of(page)["live"] == ["1"] and query_of(page)["refresh"] == ["1"] and "start" not in query_of(page)

        # The newest sample's age, in seconds, and counting up between refreshes.
        page.wait_for_function("() => /newest sample \\d+ s ago/.test(document.querySelector('#age').textContent)")
        assert int(page.get_attribute("#age", "data-newest")) == newest.value // 10**6
        expected = time.time() - newest.value / 1e9
        assert abs(age_seconds(page) - expected) <= 2.5, (page.text_content("#age"), expected)
        first = age_seconds(page)
        page.wait_for_timeout(2100)
        assert age_seconds(page) >= first + 1

        # The timer re-queries today's window, about once per period.
        charts = lambda: [q for q in watch.queries() if q["interval"] == ["auto"]]  # noqa: E731
        before = len(charts())
        page.wait_for_timeout(3500)
        ticks = len(charts()) - before
        assert 2 <= ticks <= 6, ticks
        assert all([int(q["start_time"][0]), int(q["end_time"][0])] == day for q in charts()[before:])
        newest_queries = [q for q in watch.queries() if q["interval"] == ["raw"]]
        assert newest_queries and all(q["max_points"] == ["4"] for q in newest_queries)

        # A sync brings a newer sample: the next refresh shows it.
        later = pd.Timestamp.now(tz="UTC").floor("s")
        newest = write_live(storage, later - pd.Timedelta(seconds=20), later, "b")
        page.wait_for_function(
            "ms => document.querySelector('#age').dataset.newest === String(ms)", arg=int(newest.value // 10**6))
        assert age_seconds(page) <= 4

        page.mouse.move(5, 700)
        shot = tmp_path / "live-mode.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
        if SAVE:
            page.screenshot(path=str(REPO / "docs" / "live-mode.png"))

        # Another range leaves live mode: no more refreshes.
        page.click("button[data-range='24h']")
        wait_drawn(page, 2)
        assert not page.eval_on_selector("#live", "b => b.classList.contains('on')") and page.is_hidden("#age")
        assert "live" not in query_of(page) and "start" in query_of(page)
        page.wait_for_timeout(300)
        settled = len(watch.queries())
        page.wait_for_timeout(2500)
        assert len(watch.queries()) == settled
        assert console_errors(watch) == [] and watch.foreign == []


# ---- health --------------------------------------------------------------------------------

HEALTH_DATE = "2025-03-10"
NO_DATA_DATE = "2025-03-09"
BROKEN_DATE = "2025-03-07"
EXTRA_POINTS = ["syn/dev3/analogInput/4", "syn/dev3/analogInput/5", "syn/dev3/analogInput/6", "syn/dev4/analogInput/7"]
CONTRACT_POINT = {"point": str, "display_name": str, "unit": (str, type(None)), "status": str, "reason": str,
                  "samples": int, "expected": (int, type(None)), "longest_gap_s": float, "stale": bool,
                  "flatline": bool, "out_of_range": int, "spikes": int}


def health_point(point, display_name, unit, status, reason="", samples=1440, expected=1440, gap=75.0, **flags):
    return {"point": point, "display_name": display_name, "unit": unit, "status": status, "reason": reason,
            "samples": samples, "expected": expected, "longest_gap_s": gap, "stale": flags.get("stale", False),
            "flatline": flags.get("flatline", False), "out_of_range": flags.get("out_of_range", 0),
            "spikes": flags.get("spikes", 0)}


def health_report(site: str, day: str) -> dict:
    points = [
        health_point(SYN_POINTS[0], "DEV1 Sensor 1", "°F", "ok", samples=1440),
        health_point(SYN_POINTS[1], "DEV1 Sensor 2", "°F", "degraded",
                     "no sample for 3.0 h (05:00–08:00 UTC); 1254 of 1440 expected samples (87%)",
                     samples=1254, gap=10800.0, stale=True),
        health_point(SYN_POINTS[2], "DEV2 Sensor 3", None, "dead", "no samples", samples=0, gap=86400.0, stale=True),
        health_point(EXTRA_POINTS[0], "DEV3 Sensor 4", "°F", "degraded", "unchanged at 72.0 for 9.5 h (from 06:12 UTC)",
                     flatline=True),
        health_point(EXTRA_POINTS[1], "DEV3 Sensor 5", "°F", "degraded",
                     "3 samples out of range (-40…250 °F; seen 70.1…912); 2 spikes", out_of_range=3, spikes=2),
        health_point(EXTRA_POINTS[2], "DEV3 Sensor 6", "°F", "ok", samples=1437, gap=140.0),
        health_point(EXTRA_POINTS[3], "DEV4 Sensor 7", "°F", "ok", samples=None, expected=None, gap=3100.0),
    ]
    points[-1]["samples"] = 212  # a change-of-value point: not judged on count
    counts = {s: sum(p["status"] == s for p in points) for s in ("ok", "degraded", "dead")}
    return {"site": site, "date": day, "summary": counts, "points": points}


def check_contract(body: dict) -> None:
    assert set(body) == {"site", "date", "summary", "points"}
    assert set(body["summary"]) == {"ok", "degraded", "dead"}
    for p in body["points"]:
        assert set(p) == set(CONTRACT_POINT), p
        assert all(isinstance(p[k], t) for k, t in CONTRACT_POINT.items()), p
        assert p["status"] in body["summary"]


def app_with_health(storage):
    """The real app with a test-only /sites/{site}/health speaking the contract, matched before
    any route of the app's own (so this test keeps its data once the real endpoint lands)."""
    app = app_for(storage)
    asked = []

    @app.get("/sites/{site}/health")
    def site_health(site: str, date: str | None = None):
        asked.append((site, date))
        date = date or HEALTH_DATE  # no date: the newest day with health data
        if date == BROKEN_DATE:
            return JSONResponse({"error": "health store unavailable: could not read health/site=syn_site"}, status_code=503)
        if site != SYN_SITE or date != HEALTH_DATE:
            return JSONResponse({"error": f"no health data for {site} on {date}"}, status_code=404)
        body = health_report(site, date)
        check_contract(body)
        return body

    app.router.routes.insert(0, app.router.routes.pop())
    return app, asked


def group_of(page, status: str) -> list[str]:
    return page.eval_on_selector_all(f".health-group[data-status='{status}'] li", "ls => ls.map(l => l.dataset.point)")


def test_health_view_groups_points_and_opens_their_chart(synthetic_site, browser, tmp_path):
    storage, _ = synthetic_site
    write_catalog(storage, SYN_SITE, SYN_POINTS + EXTRA_POINTS)
    app, asked = app_with_health(storage)
    report = health_report(SYN_SITE, HEALTH_DATE)
    with serve_app(app) as url:
        page, watch = open_view(browser, f"{url}/?view=health&site={SYN_SITE}")  # no date: the newest
        page.wait_for_selector(".health-group li")
        assert asked == [(SYN_SITE, None)] and page.input_value("#health-date") == HEALTH_DATE
        assert query_of(page) == {"view": ["health"], "site": [SYN_SITE]}
        assert page.is_hidden("aside") and page.is_hidden("#chart-view")

        # Grouped worst first, each point under its status, with its reason.
        groups = page.eval_on_selector_all(".health-group", "gs => gs.map(g => g.dataset.status)")
        assert groups == ["dead", "degraded", "ok"]
        for status in groups:
            want = [p["point"] for p in report["points"] if p["status"] == status]
            assert sorted(group_of(page, status)) == sorted(want), status
        assert group_of(page, "degraded") == [SYN_POINTS[1], EXTRA_POINTS[0], EXTRA_POINTS[1]]  # the server's order
        for p in report["points"]:
            item = page.locator(f".health-group li[data-point='{p['point']}']")
            assert item.locator(".reason").text_content() == (p["reason"] or "no findings")
            assert p["display_name"] in item.text_content()
        chips = page.eval_on_selector_all("#health-summary .chip", "cs => cs.map(c => c.textContent)")
        assert chips == ["1 dead", "3 degraded", "3 ok"]
        facts = page.locator(f"li[data-point='{SYN_POINTS[1]}'] .facts").text_content()
        assert "1254 of 1440 samples" in facts and "longest gap 3.0 h" in facts and "stale" in facts

        page.mouse.move(5, 740)
        shot = tmp_path / "health-view.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
        if SAVE:
            page.screenshot(path=str(REPO / "docs" / "health-view.png"), full_page=True)

        # A click charts the point over that day.
        page.click(f"li[data-point='{SYN_POINTS[1]}'] a.open")
        drawn = wait_drawn(page, 1)
        day = pd.Timestamp(HEALTH_DATE, tz="UTC")
        assert query_of(page) == {"site": [SYN_SITE], "start": [str(day.value // 10**6)],
                                  "end": [str((day + pd.Timedelta(days=1)).value // 10**6)], "point": [SYN_POINTS[1]]}
        assert int(drawn["rows"]) > 0 and drawn["source"] == "archive" and not drawn["error"], drawn
        assert page.is_visible("#chart") and page.is_hidden("#health-view")
        assert watch.queries()[-1]["point"] == [SYN_POINTS[1]]

        # Back: the health view again; then days without health data, and a failing endpoint.
        page.go_back()
        page.wait_for_selector(".health-group li")
        assert query_of(page) == {"view": ["health"], "site": [SYN_SITE]}
        # Its heatmap link: 30 days up to that day.
        page.click(f"li[data-point='{SYN_POINTS[1]}'] a.heat")
        assert wait_heatmap(page, 30)["start"] == "2025-02-09"
        assert query_of(page) == {"view": ["heatmap"], "site": [SYN_SITE], "point": [SYN_POINTS[1]], "days": ["30"],
                                  "until": [HEALTH_DATE]}
        page.go_back()
        page.wait_for_selector(".health-group li")
        page.fill("#health-date", NO_DATA_DATE)
        page.wait_for_selector(".notice[data-kind='missing']")
        notice = page.text_content(".notice")
        assert f"No health data for {SYN_SITE} on {NO_DATA_DATE}" in notice and "pick another date" in notice
        assert page.locator(".health-group").count() == 0 and query_of(page)["date"] == [NO_DATA_DATE]
        page.fill("#health-date", BROKEN_DATE)
        page.wait_for_selector(".notice[data-kind='error']")
        notice = page.text_content(".notice")
        assert "could not be loaded" in notice and "health store unavailable" in notice
        assert page.eval_on_selector("#status", "s => s.classList.contains('error')")
        assert console_errors(watch, 404, 503) == [] and watch.foreign == []


def test_health_view_says_so_when_there_is_no_health_data(synthetic_site, browser):
    """The plain app: no health files for the site (or no health route yet): a 404, shown
    as a clear message, not an empty page."""
    storage, _ = synthetic_site
    with serve_app(app_for(storage)) as url:
        page, watch = open_view(browser, f"{url}/?view=health&site={SYN_SITE}&date={HEALTH_DATE}")
        page.wait_for_selector(".notice")
        assert f"No health data for {SYN_SITE} on {HEALTH_DATE}" in page.text_content(".notice")
        assert page.eval_on_selector("#status", "s => s.classList.contains('error')")
        # The view switch still leads to the chart.
        page.click("#views button[data-view='chart']")
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Pick')")
        assert "view" not in query_of(page)
        assert console_errors(watch, 404) == [] and watch.foreign == []


def test_heatmap_cells_scale_and_hit_test(browser):
    """heatmap.js alone: each bucket lands in its UTC day row and hour column, nulls and other
    points stay empty, the decimals follow the data's spread, and the hit test finds cells."""
    page = browser.new_page()
    page.add_script_tag(path=str(STATIC / "heatmap.js"))
    out = page.evaluate(
        """() => {
          const start = Date.UTC(2025, 2, 8), h = 36e5, s = (p, t, v) => ({point_name: p, timestamp: start + t * h, value: v});
          const grid = bvHeatGrid([s("a", 0, 1.5), s("a", 47, 3.25), s("a", 5, null), s("b", 1, 9), s("a", -1, 7), s("a", 48, 7)],
                                  "a", start, 2);
          const layout = bvHeatLayout(1000, 2);
          const at = (d, hr) => bvHeatCellAt(layout, grid, layout.left + (hr + 0.5) * layout.cellW, layout.top + (d + 0.5) * layout.cellH);
          const scale = bvHeatScale(grid.values);
          return {filled: grid.filled, v0: grid.values[0], v47: grid.values[47], v5: grid.values[5], v1: grid.values[1],
                  decimals: [scale.decimals, bvHeatScale([60, 90]).decimals, bvHeatScale([0.01, 0.02]).decimals,
                             bvHeatScale([5, 5]).decimals],
                  shown: [bvHeatValue(scale, 3.25, "°F"), bvHeatValue(scale, null, "°F"), bvHeatValue(scale, 1, null)],
                  cell: at(1, 23), outside: bvHeatCellAt(layout, grid, 3, 3), label: bvDayLabel(start)};
        }"""
    )
    assert (out["filled"], out["v0"], out["v47"], out["v5"], out["v1"]) == (2, 1.5, 3.25, None, None)
    assert out["decimals"] == [2, 1, 4, 2]
    assert out["shown"] == ["3.25 °F", "no data", "1.00"]
    assert (out["cell"]["day"], out["cell"]["hour"], out["cell"]["value"]) == (1, 23, 3.25) and out["outside"] is None
    assert out["label"] == "Sat 2025-03-08"
    page.close()
