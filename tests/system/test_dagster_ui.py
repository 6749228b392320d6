"""A historical import the way a new data engineer does it in the Dagster UI, in headless Chromium.

Starts the simulator and `bv ui` (dagster dev: webserver + daemon) on a temporary DAGSTER_HOME,
lets `sites_sensor` register demo_office and fetch its catalog, then with real clicks only:

    Lineage -> right-click the `site_day` group -> "Filter to this group" -> "Materialize all…"
    -> date `[TEST_DAY...TEST_DAY+1]`, site `demo_office` -> "Launch backfill"
    -> Runs -> Backfills -> the backfill's id (named by the "Created backfill <id>" toast)

(one dialog for raw_site_day + archived_site_day). The GraphQL API is used only to poll the
backfill's status. Then the archive's checks (Catalog -> archived_site_day -> Checks) and the
runs list (Runs -> "Show runs within backfills") are read as a user reads them.

Debian's /usr/bin/chromium is driven by Playwright (no browser is downloaded). Screenshots go to
a temporary folder, or with BV_SAVE_SCREENSHOT=1 to docs/ui-graph.png, docs/ui-backfill.png,
docs/ui-checks.png and docs/ui-runs.png.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import psutil
import pytest
from support.fixtures_pipeline import TEST_DAY
from support.ports import free_port
from support.waiting import http_ok, wait_for

from bv_cli.backfill import BackfillClient
from bv_pipeline.archive_checks import ALL_CHECKS
from bv_store.layout import archive_key
from bv_store.storage import Storage

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SITE = "demo_office"
DAYS = (TEST_DAY, TEST_DAY + timedelta(days=1))
KEYS = [f"{day}|{SITE}" for day in DAYS]  # Dagster's multi-partition keys: date|site
START_DATE = TEST_DAY - timedelta(days=3)  # BV_START_DATE: the first daily partition
UI_TIMEOUT_MS = 120_000  # generous: CI's 2 cores also run the suite's other servers
VIEWPORT = {"width": 1400, "height": 900}
WIDE_VIEWPORT = {"width": 1600, "height": 900}  # check descriptions on fewer lines
RUNS_VIEWPORT = {"width": 1920, "height": 800}  # the runs table's ID column shows whole tags


# --- servers and browser (once for the module: the UI backfill is launched once) -------------

@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium (scripts/system_deps.sh)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); Playwright's own browsers are not used")
    return CHROMIUM


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> dict[str, Path]:
    folder = REPO / "docs" if os.environ.get("BV_SAVE_SCREENSHOT") == "1" else tmp_path_factory.mktemp("ui-shots")
    return {name: folder / f"ui-{name}.png" for name in ("graph", "backfill", "checks", "runs")}


@pytest.fixture(scope="module")
def bv_ui(chromium_path, ace_sim_session, sim_token, tmp_path_factory):
    """`bv ui` against the simulator, demo_office registered and its catalog fetched: (url, storage)."""
    root = tmp_path_factory.mktemp("bv-ui")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "DAGSTER_"))}
    env.update(
        ACE_API_BASE=ace_sim_session.base_url,
        ACE_API_KEY=sim_token,
        BV_SITES=SITE,
        BV_START_DATE=START_DATE.isoformat(),
        BV_STORAGE_URL=str(root / "storage"),
        BV_STEP_RETRIES="0",
        DAGSTER_HOME=str(root / "dagster_home"),
    )
    log = open(root / "bv-ui.log", "wb")
    ui = subprocess.Popen(
        [sys.executable, "-m", "bv_cli.main", "ui", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    storage = Storage.from_url(env["BV_STORAGE_URL"])
    try:
        wait_for(lambda: http_ok(f"{url}/server_info"), 180, f"the Dagster webserver (log: {root / 'bv-ui.log'})")
        wait_for(lambda: storage.exists(f"points/site={SITE}/points.parquet"), 240, "sites_sensor's catalog run")
        yield url, storage
    finally:
        stop(ui)
        log.close()


def stop(ui: subprocess.Popen) -> None:
    """SIGTERM to `bv ui` (it stops dagster dev's own process group), then kill what is left."""
    children = psutil.Process(ui.pid).children(recursive=True)
    os.killpg(ui.pid, signal.SIGTERM)
    try:
        ui.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(ui.pid, signal.SIGKILL)
        ui.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=10)
    for proc in alive:
        proc.kill()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser, url: str, viewport: dict = VIEWPORT):
    page = browser.new_page(viewport=viewport, timezone_id="UTC")
    page.set_default_timeout(UI_TIMEOUT_MS)
    # Dagster's "Join the Dagster community" dialog opens over the first page of a new instance.
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"), lambda: page.get_by_role("button", name="Skip").click()
    )
    page.goto(url)
    settle(page)
    return page


def settle(page, ms: int = 1000) -> None:
    """Network idle, then a moment for React to paint what arrived."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(ms)


def nav(page, href: str) -> None:
    """Click an entry of the left navigation (Catalog, Runs, Lineage, ...)."""
    page.locator(f'a[href="{href}"]').first.click()
    settle(page)


# --- the backfill, launched from the UI once ---------------------------------------------------

@pytest.fixture(scope="module")
def ui_backfill(bv_ui, browser, shots, tmp_path_factory):
    """The site_day group backfilled from the UI over 2 days x demo_office; what the user saw."""
    url, storage = bv_ui
    failure_shot = tmp_path_factory.mktemp("ui-failure") / "ui-backfill-failure.png"
    page = new_page(browser, url + "/")
    try:
        # Lineage -> the group's context menu -> "Filter to this group": only raw + archive remain.
        nav(page, "/asset-groups")
        page.locator("button").filter(has=page.get_by_title("site_day", exact=True)).first.click(button="right")
        page.get_by_role("menuitem", name="Filter to this group").click()
        settle(page, 2000)
        assert 'group:"site_day"' in unquote(page.url), page.url
        for asset in ("raw_site_day", "archived_site_day"):
            page.get_by_text(asset, exact=True).first.wait_for()
        page.screenshot(path=str(shots["graph"]))

        page.get_by_role("button", name="Materialize all…").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Partition selection").wait_for()
        title = dialog.get_by_text(re.compile(r"^Launch runs to materialize")).inner_text()
        # The date dimension: a range typed the way the input's own placeholder shows it.
        dates = dialog.get_by_placeholder(re.compile(r"^ex: "))
        dates.fill(f"[{DAYS[0]}...{DAYS[-1]}]")
        dates.press("Enter")
        # The site dimension: tick the one site in its drop-down, then close the drop-down.
        dialog.get_by_text("Select a partition or create one").click()
        page.get_by_role("menu").get_by_text(SITE, exact=True).filter(visible=True).first.click()
        # Close the drop-down by clicking the dialog's title: the drop-down's own filter box
        # may lie over the dimension's label (it does in Chromium 156).
        dialog.get_by_text(re.compile(r"^Launch runs to materialize")).click()
        dialog.get_by_text(re.compile(rf"^{len(KEYS)} partitions$")).wait_for()
        page.wait_for_timeout(500)
        dialog_text = dialog.inner_text()
        page.screenshot(path=str(shots["backfill"]))

        # Preview (offered when the dialog has something to explain): which partitions of
        # which asset the backfill will launch.
        preview_text = ""
        preview_button = dialog.get_by_role("button", name="Preview")
        if preview_button.count():
            preview_button.click()
            preview = page.get_by_role("dialog").filter(has_text="Backfill preview")
            preview.get_by_text("Partitions to launch").wait_for()
            preview_text = preview.inner_text()
            preview.get_by_role("button", name="OK").click()

        dialog.get_by_role("button", name="Launch backfill").click()
        toast = page.get_by_text(re.compile(r"Created backfill \S+"))
        toast.wait_for()
        backfill_id = re.search(r"Created backfill (\S+)", toast.inner_text()).group(1)
        # The toast fades within seconds; the backfill stays under Runs -> Backfills.
        nav(page, "/runs")
        page.get_by_role("tab", name="Backfills").click()
        settle(page)
        page.locator(f'a[href^="/runs/b/{backfill_id}"]').first.click()
        page.wait_for_url(re.compile(rf"/runs/b/{backfill_id}"))

        with BackfillClient(url) as client:  # GraphQL only to poll, never to launch
            status = wait_for(lambda: (s := client.status(backfill_id)).done and s, 300, "the backfill")
        page.reload()
        settle(page)
        backfill_page = page.locator("body").inner_text()
    except Exception:
        page.screenshot(path=str(failure_shot))
        print(f"ui_backfill failed; the page at that moment: {failure_shot}")
        raise
    finally:
        page.close()
    return {
        "url": url, "storage": storage, "id": backfill_id, "status": status, "title": title,
        "dialog": dialog_text, "preview": preview_text, "backfill_page": backfill_page,
    }


# --- what the user reads afterwards ------------------------------------------------------------

def open_checks(browser, url: str):
    """Catalog -> archived_site_day -> Checks."""
    page = new_page(browser, url + "/", WIDE_VIEWPORT)
    nav(page, "/assets")
    page.locator('a[href="/assets/archived_site_day"]').first.click()
    settle(page)
    page.get_by_role("tab", name="Checks").click()
    settle(page)
    page.get_by_text(f"Checks ({len(ALL_CHECKS)})").wait_for()
    return page


def check_row(page, name: str):
    """The check's entry in the Checks list (name and its latest status)."""
    return page.locator('[class*="checkRow"]').filter(has=page.get_by_title(name, exact=True))


def execution_history(page, name: str) -> list[str]:
    """The texts of the rows of one check's Execution history table."""
    check_row(page, name).click()
    settle(page, 500)
    page.get_by_text("Execution history", exact=True).click()
    rows = page.locator("tr").filter(has_text=re.compile(r"Passed|Failed|Skipped|Execution failed"))
    rows.first.wait_for()
    settle(page, 500)
    return rows.all_inner_texts()


def open_backfill_runs(browser, url: str, backfill_id: str):
    """Runs -> "Show runs within backfills": the page and the rows of this backfill's runs."""
    page = new_page(browser, url + "/", RUNS_VIEWPORT)
    nav(page, "/runs")
    page.get_by_text("Show runs within backfills").click()
    settle(page)
    rows = page.locator('[class*="VirtualizedTable_row"]').filter(has_text=re.compile(rf"Backfill:\s*{backfill_id}"))
    rows.first.wait_for()
    return page, rows


def partitions_in_runs_table(page, rows) -> list[str]:
    """The partition of each run in `rows`, as the table shows it. Runs that carry no
    `partition` tag get their `asset_partition_range_start` tag pinned to the table the way a
    user does it: "View all tags" -> the tag -> "Show tag in table"."""
    label = "partition"
    if not all(f"{label}: " in text for text in rows.all_inner_texts()):
        label = "asset_partition_range_start"
        rows.first.get_by_text(re.compile(r"View all tags")).click()
        tags = page.get_by_role("dialog").filter(has_text="Tags")
        tags.get_by_text(re.compile(rf"^{label}:")).click()
        page.get_by_text("Show tag in table", exact=True).click()
        tags.get_by_role("button", name="Close").click()
        tags.wait_for(state="detached")
        rows.first.get_by_text(re.compile(rf"{label}: ")).wait_for()
    found = [re.search(rf"{label}: (\S+)", text) for text in rows.all_inner_texts()]
    return [m.group(1) if m else "" for m in found]


def test_backfill_of_the_site_day_group_from_the_ui(ui_backfill, browser, shots):
    bf = ui_backfill
    # One dialog for raw + archive: 2 assets, 2 site-days, each asset launching both keys.
    assert bf["title"] == "Launch runs to materialize 2 assets", bf["title"]
    assert f"{len(KEYS)} partitions" in bf["dialog"] and SITE in bf["dialog"], bf["dialog"]
    if bf["preview"]:  # the per-asset status below says the same when Dagster offers no preview
        for asset in ("raw_site_day", "archived_site_day"):
            assert asset in bf["preview"], bf["preview"]
        assert all(bf["preview"].count(key) == 2 for key in KEYS), bf["preview"]

    # Dagster's own account of the backfill, then the backfill page and the files it wrote.
    status = bf["status"]
    assert status.succeeded, status
    assert {a: c["materialized"] for a, c in status.per_asset.items()} == {
        "raw_site_day": len(KEYS), "archived_site_day": len(KEYS)}, status
    assert "Succeeded" in bf["backfill_page"] and all(k in bf["backfill_page"] for k in KEYS), bf["backfill_page"]
    for day in DAYS:
        assert bf["storage"].exists(archive_key(SITE, day)), archive_key(SITE, day)

    # Every archive check of TEST_DAY's partition passed: its history has a Passed row that
    # names the partition (the descriptions start with the site-day key).
    page = open_checks(browser, bf["url"])
    for name in ALL_CHECKS:
        history = execution_history(page, name)
        passed = [row for row in history if row.lstrip().startswith("Passed") and f"{KEYS[0]}:" in row]
        assert passed, (name, history)
        assert not any(row.lstrip().startswith(("Failed", "Execution failed")) for row in history), (name, history)
    execution_history(page, "archive_content_matches_raw")
    page.mouse.move(5, WIDE_VIEWPORT["height"] - 5)
    page.screenshot(path=str(shots["checks"]))
    page.close()

    # The runs list: one run per site-day, each in the backfill and succeeded, each naming its
    # partition in the table (a `partition` chip, or failing that the pinned range tag).
    page, rows = open_backfill_runs(browser, bf["url"], bf["id"])
    assert rows.count() == len(KEYS), rows.all_inner_texts()
    assert all("Success" in text for text in rows.all_inner_texts()), rows.all_inner_texts()
    assert sorted(partitions_in_runs_table(page, rows)) == sorted(KEYS), rows.all_inner_texts()
    page.mouse.move(5, RUNS_VIEWPORT["height"] - 5)
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots["runs"]))
    page.close()


def test_backfilled_runs_and_checks_carry_their_partition(ui_backfill, browser):
    from playwright.sync_api import expect

    bf = ui_backfill
    assert "varying backfill policies" not in bf["dialog"], bf["dialog"]

    page, rows = open_backfill_runs(browser, bf["url"], bf["id"])
    texts = rows.all_inner_texts()
    page.close()
    chips = sorted(m.group(1) for t in texts if (m := re.search(r"partition: (\S+)", t)))
    assert chips == sorted(KEYS), texts

    page = open_checks(browser, bf["url"])
    try:
        statuses = {name: check_row(page, name).inner_text() for name in ALL_CHECKS}
        assert all("Succeeded" in s for s in statuses.values()), statuses
        check_row(page, "archive_not_empty").click()
        page.get_by_text("Partitions", exact=True).last.click()
        expect(page.get_by_text(re.compile(rf"^Passed\s*\({len(KEYS)}\)$"))).to_be_visible(timeout=15_000)
    finally:
        page.close()
