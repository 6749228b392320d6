"""The chart page end to end in headless Chromium (Debian's /usr/bin/chromium via Playwright;
no browser is downloaded): page loads, a point is searched and picked, the chart draws from
archives the pipeline produced, and a screenshot is saved."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from fixtures_pipeline import TEST_DAY
from fixtures_query import serve_app

from bv_assets.days import day_window
from bv_query import QueryEngine
from bv_query.api import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_chart_page_draws_a_picked_point(local_pipeline, tmp_path):
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium (scripts/system_deps.sh)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    site = "demo_office"
    assert local_pipeline.catalog(site).success and local_pipeline.site_day(site).success
    start, end = (int(t.timestamp() * 1000) for t in day_window(TEST_DAY))
    with serve_app(create_app(QueryEngine(local_pipeline.storage), api_keys="", cors_origins="")) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 700})
        errors, foreign = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: foreign.append(r.url) if urlparse(r.url).hostname not in ("127.0.0.1", "localhost") else None)
        page.goto(f"{url}/?site={site}&start={start}&end={end}")
        page.fill("#search", "zone temp")
        page.wait_for_selector("#results li")
        page.click("#results li >> nth=0")
        page.fill("#search", "discharge air temp")
        page.wait_for_function("document.querySelectorAll('#results li').length > 0 && document.querySelector('#results li').textContent.includes('Discharge')")
        page.click("#results li >> nth=0")
        page.wait_for_selector("#chart[data-series='2'] canvas")
        status = page.text_content("#status")
        canvas = page.query_selector("#chart canvas")
        box = canvas.bounding_box()
        # Pixels actually drawn: the canvas is not blank.
        painted = page.evaluate(
            "() => { const c = document.querySelector('#chart canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
        )
        shot = tmp_path / "chart-page.png"
        page.screenshot(path=str(shot))
        if os.environ.get("BV_SAVE_SCREENSHOT") == "1":
            (REPO / "docs").mkdir(exist_ok=True)
            page.screenshot(path=str(REPO / "docs" / "chart-page.png"))
        browser.close()
    rows = int(status.split()[0])
    assert rows > 100, status
    assert box["width"] > 300 and box["height"] > 200 and painted > 1000
    assert shot.stat().st_size > 10_000
    assert errors == [] and foreign == []
