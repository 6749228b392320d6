"""docs/reliability.md lists every fault test, and the renderer refuses a run that missed one."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import reliability_report  # noqa: E402


def test_every_fault_test_is_in_the_committed_table():
    declared = reliability_report.declared_fault_tests()
    assert len(declared) >= 10, declared  # the scan finds the fault tests, not nothing
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert sorted(name for name in declared if f"::{name}" not in doc) == []


def test_renderer_refuses_a_run_that_missed_a_fault_test(tmp_path):
    declared = sorted(reliability_report.declared_fault_tests())
    rows = [{"test": f"tests/x.py::{name}", "fault": "f", "component": "c", "system_did": "d", "lost": "l",
             "at": "2026-12-02T00:00:00Z"} for name in declared[1:]]
    suite = tmp_path / "suite.jsonl"
    suite.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "reliability.md"
    assert reliability_report.main(["--suite", str(suite), "--out", str(out)]) == 3 and not out.exists()
    rows.append({**rows[0], "test": f"tests/x.py::{declared[0]}[param]"})
    suite.write_text("\n".join(json.dumps(r) for r in rows))
    assert reliability_report.main(["--suite", str(suite), "--out", str(out), "--soak", str(tmp_path / "none")]) == 0
    text = out.read_text()
    assert f"::{declared[0]}[param]" in text and "Not run for this version" in text
