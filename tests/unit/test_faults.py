"""The crash-point hook (bv_store.faults): inert unless BV_CRASH_AT names a declared point,
loud about undeclared names, and really ending the process where it is armed."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bv_store import faults
from bv_store.faults import CRASH_EXIT_CODE, CRASH_POINTS, ENV_VAR, CrashPointError, crash_point, file_kind
from bv_store.layout import (
    archive_key, catalog_version_key, health_key, live_cursor_key, live_part_key, points_key, raw_key, rollup_key,
)

REPO = Path(__file__).resolve().parents[2]
DAY = date(2025, 6, 3)


def test_inert_when_the_variable_is_unset(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    for name in CRASH_POINTS:
        assert crash_point(name) is None
    assert faults.armed_for_key(archive_key("s", DAY), "verified") is False
    faults.crash_point_for_key(archive_key("s", DAY), "verified")  # returns: nothing armed


def test_an_empty_variable_is_unset(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "")
    assert crash_point("archive.verified") is None


def test_a_misspelled_point_is_rejected_loudly(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "archive.verifed")
    with pytest.raises(CrashPointError, match=r"archive\.verifed") as info:
        crash_point("raw.published")  # any point reached first refuses the bad setting
    assert "declared" in str(info.value)


def test_one_bad_name_in_a_list_is_rejected(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "archive.verified, live_sync.before_cursr")
    with pytest.raises(CrashPointError, match="live_sync.before_cursr"):
        crash_point("raw.published")


def test_a_call_site_with_an_undeclared_name_is_rejected(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "archive.verified")
    with pytest.raises(CrashPointError, match="not declared"):
        crash_point("archive.no_such_step")


def test_other_points_pass_while_one_is_armed(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "archive.verified")
    assert crash_point("raw.verified") is None
    assert faults.armed_for_key(archive_key("s", DAY), "verified") is True
    assert faults.armed_for_key(raw_key("s", DAY), "verified") is False


def _python(code: str, env_value: str | None) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if env_value is not None:
        env[ENV_VAR] = env_value
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_an_armed_point_ends_the_process_with_the_fixed_code_and_one_line():
    code = ("from bv_store.faults import crash_point\n"
            "crash_point('raw.verified')\n"
            "try:\n    crash_point('archive.verified')\nfinally:\n    print('finally ran')\n"
            "print('after')")
    done = _python(code, "archive.verified")
    assert done.returncode == CRASH_EXIT_CODE
    assert done.stderr.strip() == f"bv crash point archive.verified: exiting with code {CRASH_EXIT_CODE} ({ENV_VAR})"
    assert done.stdout == ""  # os._exit: no finally, no cleanup, like a kill
    unarmed = _python(code, None)
    assert unarmed.returncode == 0 and unarmed.stdout.split() == ["finally", "ran", "after"]


def test_every_call_site_names_a_declared_point_and_every_writer_step_is_used():
    used = set()
    for path in REPO.glob("bv_*/**/*.py"):
        used |= set(re.findall(r"""crash_point\(\s*["']([^"']+)["']""", path.read_text()))
    assert used, "no crash_point call found: the scan is broken"
    assert used - CRASH_POINTS.keys() == set()
    assert set(faults.WRITER_STEPS) - used == set(), "declared writer steps that no code reaches"


@pytest.mark.parametrize("key,kind", [
    (points_key("s"), "catalog"),
    (catalog_version_key("s", "0123456789abcdef"), "catalog_version"),
    (raw_key("s", DAY), "raw"),
    (archive_key("s", DAY), "archive"),
    (rollup_key("s", "2025-06"), "rollup"),
    (live_part_key("s", DAY, 1, "a1b2c3"), "live_part"),
    (live_part_key("s", DAY, 1, "merged0a1b2c"), "live_compaction"),
    (live_cursor_key("s"), "live_cursor"),
    (health_key("s", DAY), "health"),
    ("somewhere/else.bin", "other"),
])
def test_file_kind_of_each_key(key, kind):
    assert file_kind(key) == kind
    assert f"{kind}.published" in CRASH_POINTS
