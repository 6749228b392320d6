"""The chart page end to end in headless Chromium: Debian's /usr/bin/chromium driven by
Playwright (no browser is downloaded). The app serves archives the pipeline really wrote; the
page searches and picks points, draws, zooms (re-querying at a finer resolution), switches
ranges, downloads CSV and shows API errors, all without a console error or a request that
leaves loopback. BV_SAVE_SCREENSHOT=1 also writes docs/chart-page.png for the README.

The page takes `?site=&start=&end=&point=` URL parameters (epoch ms or ISO 8601); the tests
use them to open the materialized day."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from support.fixtures_pipeline import TEST_DAY
from support.fixtures_query import SYN_POINTS, SYN_SITE, serve_app

from bv_store.days import day_window
from bv_query import QueryEngine
from bv_query.api import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "bv_query" / "static"
LOOPBACK = {"127.0.0.1", "localhost"}
SITE = "demo_office"
API_KEY = "chart-page-test-key-0123456789"

pytestmark = pytest.mark.slow


class Watch:
    """What a page did: console errors, uncaught exceptions, requests (foreign ones apart)."""

    def __init__(self, page):
        self.errors, self.foreign, self.requests = [], [], []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", self._request)

    def _request(self, request):
        if urlparse(request.url).hostname not in LOOPBACK and not request.url.startswith(("data:", "blob:", "about:")):
            self.foreign.append(request.url)
        self.requests.append(request)

    def queries(self) -> list[dict]:
        return [parse_qs(urlparse(r.url).query) for r in self.requests if urlparse(r.url).path == "/timeseries/query"]

    def unexpected_errors(self, allowed_status: int | None = None) -> list[str]:
        """Console errors, except Chromium's own line for an HTTP error the test provoked."""
        expected = f"the server responded with a status of {allowed_status}"
        return [e for e in self.errors if allowed_status is None or expected not in e]


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium (scripts/system_deps.sh)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); Playwright's own browsers are not used")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str):
    # UTC so the datetime-local inputs and axis labels do not depend on the machine's zone.
    page = browser.new_page(viewport={"width": 1300, "height": 640}, timezone_id="UTC", accept_downloads=True)
    watch = Watch(page)
    page.goto(url)
    return page, watch


def pick(page, query: str, display_name: str) -> None:
    """Search, then click the result with exactly this display name."""
    page.fill("#search", query)
    page.locator("#results li", has=page.locator(f"b:text-is('{display_name}')")).click()


def wait_drawn(page, series: int, interval: str | None = None) -> dict:
    """Wait for a finished draw of `series` points (at `interval`); its status data."""
    page.wait_for_function(
        "([n, iv]) => { const s = document.querySelector('#status');"
        " return document.querySelector('#chart').dataset.series === String(n) && !s.textContent.startsWith('Loading')"
        " && s.dataset.rows !== undefined && (iv === null || s.dataset.interval === iv); }",
        arg=[series, interval],
    )
    return page.eval_on_selector(
        "#status", "s => ({...s.dataset, text: s.textContent, error: s.classList.contains('error')})"
    )


def series_stats(page) -> list[dict]:
    """Per plotted point: cells that are gaps (null), absent here (undefined) and values."""
    return page.evaluate(
        "() => state.plot.data.slice(1).map(c => ({nulls: c.filter(v => v === null).length,"
        " absent: c.filter(v => v === undefined).length, values: c.filter(v => v != null).length}))"
    )


def painted_pixels(page) -> int:
    return page.evaluate(
        "() => { const c = document.querySelector('#chart canvas');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )


def drag_across_chart(page, left: float, right: float) -> None:
    """Drag over the plot area from `left` to `right` (fractions of its width): a zoom."""
    box = page.locator("#chart .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * left, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * right, y, steps=8)
    page.mouse.up()


@pytest.fixture
def archived_day(local_pipeline):
    """demo_office's catalog and TEST_DAY, materialized from the simulator; the storage.
    (Before the browser starts: Dagster runs must not share a thread with Playwright's loop.)"""
    assert local_pipeline.catalog(SITE).success and local_pipeline.site_day(SITE).success
    return local_pipeline.storage


def test_chart_page_on_an_archived_day(archived_day, browser, tmp_path):
    start, end = (int(t.timestamp() * 1000) for t in day_window(TEST_DAY))
    app = create_app(QueryEngine(archived_day), api_keys="", cors_origins="")
    with serve_app(app) as url:
        page, watch = open_page(browser, f"{url}/?{urlencode({'site': SITE, 'start': start, 'end': end})}")
        page.wait_for_function("document.querySelector('#site').value === 'demo_office'")
        assert page.input_value("#from") == f"{TEST_DAY}T00:00"
        assert page.input_value("#to") == f"{TEST_DAY + timedelta(days=1)}T00:00"

        # Two °F points and one without a unit: two y axes.
        pick(page, "vav 1 zone temp", "VAV-01 Zone Temp")
        pick(page, "vav 1 zone temp", "VAV-01 Zone Temp Setpoint")
        pick(page, "weather temp", "weather temp")
        day = wait_drawn(page, 3)
        assert (day["interval"], day["source"], day["error"]) == ("5min", "archive", False), day
        assert int(day["rows"]) == 3 * 288, day  # a full 5-minute grid per point
        assert page.locator("#chart .u-axis").count() == 3  # x, °F, (no unit)
        assert page.evaluate("() => state.plot.axes.slice(1).map(a => a.label)") == ["°F", "(no unit)"]
        box = page.locator("#chart canvas").bounding_box()
        assert box["width"] > 600 and box["height"] > 300 and painted_pixels(page) > 5000
        assert "point=" in page.url  # the address bar links to this chart

        # For the screenshot: a search showing the picked points ticked, no hover highlight.
        page.fill("#search", "vav 1 zone temp")
        page.wait_for_selector("#results li.on >> nth=1")
        page.mouse.move(5, 630)
        shot = tmp_path / "chart-page.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
        if os.environ.get("BV_SAVE_SCREENSHOT") == "1":
            page.screenshot(path=str(REPO / "docs" / "chart-page.png"))

        # Drag-zoom over ~1.2 h: re-queried with the chart's width as budget, now raw samples.
        drag_across_chart(page, 0.40, 0.45)
        zoomed = wait_drawn(page, 3, "raw")
        query = watch.queries()[-1]
        width = page.evaluate("() => document.querySelector('#chart').clientWidth")
        assert query["interval"] == ["auto"] and int(query["max_points"][0]) == width
        z0, z1 = int(query["start_time"][0]), int(query["end_time"][0])
        assert start < z0 < z1 < end and 0.8 * 3600e3 < z1 - z0 < 1.6 * 3600e3, (z0, z1)
        assert "zoomed to" in zoomed["text"] and int(zoomed["rows"]) > 0
        # Raw samples of different points do not share timestamps: no line may be broken by that.
        stats = series_stats(page)
        assert all(s["nulls"] == 0 and s["values"] > 5 for s in stats), stats
        assert painted_pixels(page) > 5000

        page.click("#reset")
        assert wait_drawn(page, 3, "5min")["rows"] == day["rows"]
        assert page.is_disabled("#reset")

        # 7 days ending at the data's end: coarser buckets; the six days not archived are gaps.
        page.click("button[data-range='7d']")
        week = wait_drawn(page, 3, "15min")
        stats = series_stats(page)
        assert all(s["nulls"] > 0 and s["values"] >= 96 for s in stats), (week, stats)

        with page.expect_download() as download:
            page.click("#csv")
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0].replace('"', "") == "point_name,timestamp,value" and len(lines) > 1
        assert watch.unexpected_errors() == [] and watch.foreign == []

        # A bad custom range: the API's error is shown, not a stale chart.
        page.fill("#from", f"{TEST_DAY}T12:00")
        page.fill("#to", f"{TEST_DAY}T06:00")
        page.click("#apply")
        page.wait_for_selector("#status.error")
        assert "must be after" in page.text_content("#status") and "end_time" in page.text_content("#status")
        assert watch.unexpected_errors(allowed_status=400) == [] and watch.foreign == []


def test_chart_page_with_an_api_key(synthetic_site, browser):
    storage, _ = synthetic_site
    app = create_app(QueryEngine(storage), api_keys=API_KEY, cors_origins="")
    with serve_app(app) as url:
        page, watch = open_page(browser, url + "/")
        page.wait_for_selector("#status.error")
        assert "API key" in page.text_content("#status")

        page.fill("#apikey", API_KEY)
        page.click("#keyform button")
        page.wait_for_function(f"document.querySelector('#site').value === '{SYN_SITE}'")
        # A name with a comma: sent as a repeated `point` parameter, it still works.
        pick(page, "dev2", "DEV2 Sensor 3")
        drawn = wait_drawn(page, 1)
        assert int(drawn["rows"]) > 0 and not drawn["error"], drawn
        assert watch.queries()[-1]["point"] == [SYN_POINTS[2]]

        with page.expect_download() as download:
            page.click("#csv")
        assert len(Path(download.value.path()).read_text().splitlines()) > 1
        api_calls = [r for r in watch.requests if urlparse(r.url).path.startswith(("/sites", "/timeseries"))]
        keyed = [r for r in api_calls if r.headers.get("authorization") == f"Bearer {API_KEY}"]
        assert len(keyed) >= 3 and api_calls[-1] in keyed
        assert page.evaluate("() => localStorage.getItem('bv_api_key')") == API_KEY
        assert watch.unexpected_errors(allowed_status=401) == [] and watch.foreign == []


def test_chart_columns_keep_lines_whole_and_break_at_gaps(browser):
    """chart.js alone: alignment holes are undefined (stepped over), API nulls and long raw
    silences are null (a break in the line)."""
    page = browser.new_page()
    page.add_script_tag(path=str(STATIC / "chart.js"))
    minute = 60_000
    a = [{"point_name": "a", "timestamp": i * minute, "value": float(i)} for i in range(10)]
    a += [{"point_name": "a", "timestamp": (i + 120) * minute, "value": float(i)} for i in range(10)]  # 110 min silent
    b = [{"point_name": "b", "timestamp": i * minute + 30_000, "value": None if i == 4 else 1.0} for i in range(10)]
    count = (
        "([s, raw, names]) => { const [xs, ...cols] = bvColumns(names.map(name => ({name})), s, raw);"
        " return {sorted: xs.every((x, i) => i === 0 || xs[i - 1] < x), times: xs.length, cols: cols.map(c =>"
        " ({nulls: c.filter(v => v === null).length, absent: c.filter(v => v === undefined).length,"
        " values: c.filter(v => v != null).length}))}; }"
    )
    raw = page.evaluate(count, [a + b, True, ["a", "b"]])
    assert raw["sorted"] and raw["times"] == 20 + 10 + 1  # a's, b's, and one break after a's 10th sample
    assert raw["cols"][0] == {"nulls": 1, "absent": 10, "values": 20}
    assert raw["cols"][1] == {"nulls": 1, "absent": 21, "values": 9}  # the API's null stays a gap
    # Bucketed answers are taken as they are: only the API's nulls are gaps.
    bucketed = page.evaluate(count, [a, False, ["a"]])
    assert bucketed["cols"][0] == {"nulls": 0, "absent": 0, "values": 20}
    page.close()
