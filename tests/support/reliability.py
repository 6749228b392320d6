"""The reliability table's rows, recorded by the fault tests themselves.

A fault test calls `reliability.record(...)` after its assertions passed, so a row exists only
for a fault whose outcome was verified in this run. Each pytest session writes its own file,
`build/reliability/session-<utc time>-<pid>.jsonl` (two sessions at once never mix rows);
`benchmarks/reliability_report.py` renders the newest one, with the soak benchmark's figures,
into `docs/reliability.md`.

    def test_s3_503_then_loud(reliability, ...):
        ...  # inject, assert
        reliability.record(
            fault="S3 answers 503 to every PUT",
            component="storage (S3)",
            system_did="4 attempts in 2.1 s, then StorageError naming the key; run failed",
            lost="nothing: previous archive byte-identical",
        )
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOG_DIR = REPO / "build" / "reliability"
SESSION_LOG = Path(
    os.environ.get("BV_RELIABILITY_LOG")
    or LOG_DIR / f"session-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}.jsonl"
)


class ReliabilityLog:
    def __init__(self, test_id: str, path: Path = SESSION_LOG):
        self.test_id = test_id
        self.path = path

    def record(self, *, fault: str, component: str, system_did: str, lost: str) -> None:
        for name, text in (("fault", fault), ("component", component), ("system_did", system_did), ("lost", lost)):
            if not text.strip():
                raise ValueError(f"reliability row of {self.test_id}: {name} is empty")
        row = {
            "test": self.test_id,
            "fault": fault,
            "component": component,
            "system_did": system_did,
            "lost": lost,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:  # appends are atomic for one line
            out.write(json.dumps(row) + "\n")


@pytest.fixture
def reliability(request) -> ReliabilityLog:
    return ReliabilityLog(request.node.nodeid)
