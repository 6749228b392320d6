"""`bv backfill` states a backfill's size before launching, and wants --yes for a large one."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

from support.defs import storage_with_catalogs

from bv_cli.backfill import CONFIRM_ABOVE_SITE_DAYS, backfill_size
from bv_config.settings import Settings


def test_size_counts_site_days_and_estimates_ace_requests(tmp_path):
    storage, _ = storage_with_catalogs(tmp_path, ["a_site", "b_site"])  # one 1-minute point each
    settings = Settings.load({"BV_STORAGE_URL": str(tmp_path)})
    size = backfill_size(settings, ["a_site", "b_site"], date(2025, 6, 1), date(2025, 6, 10))
    assert size.site_days == 20
    assert size.ace_requests == 20 * 2  # 1,440 samples fit one 50,000-sample page, plus the closing page
    assert "20 site-days" in size.text()
    unknown = backfill_size(settings, ["no_catalog_site"], date(2025, 6, 1), date(2025, 6, 1))
    assert unknown.ace_requests is None and "unknown" in unknown.text()


def test_a_large_backfill_needs_yes(tmp_path):
    storage_with_catalogs(tmp_path, ["a_site"])
    env = {"PATH": "/usr/bin:/bin", "BV_STORAGE_URL": str(tmp_path), "BV_SITES": "a_site", "HOME": str(tmp_path)}
    days = CONFIRM_ABOVE_SITE_DAYS + 5
    proc = subprocess.run(
        [sys.executable, "-m", "bv_cli.main", "backfill", "--start", "2025-01-01", "--end", f"2025-03-{days - 59:02d}",
         "--url", "http://127.0.0.1:9"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{days} site-days" in proc.stderr and "--yes" in proc.stderr
