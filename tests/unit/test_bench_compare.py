"""The benchmark's content comparison (benchmarks/compare.py) fails on every kind of difference."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from compare import ContentMismatch, answer_table, compare  # noqa: E402

T0 = 1_735_689_654_513_048  # 2025-01-01T00:00:54.513048Z


def ours() -> pa.Table:
    # Our engine's shape: timestamps, and a NULL bucket (no sample) that peers do not return.
    return pa.table({
        "point": ["p/a", "p/a", "p/a", "p/b"],
        "ts": pa.array([T0, T0 + 60_000_000, T0 + 120_000_000, T0], pa.timestamp("us", tz="UTC")),
        "value": pa.array([70.5, None, 70.75, -0.4], pa.float64()),
    })


def peer(points=("p/a", "p/a", "p/b"), ts=(T0, T0 + 120_000_000, T0), values=(70.5, 70.75, -0.4)) -> pa.Table:
    return answer_table(points, ts, values)


def test_equal_answers_pass_in_any_row_order():
    assert compare("A", "peer", ours(), peer(points=("p/b", "p/a", "p/a"), ts=(T0, T0, T0 + 120_000_000),
                                             values=(-0.4, 70.5, 70.75))) == 3


def test_values_within_1e9_relative_pass():
    assert compare("B", "peer", ours(), peer(values=(70.5 * (1 + 5e-10), 70.75, -0.4))) == 3


def test_changed_timestamp_fails_and_names_the_row():
    with pytest.raises(ContentMismatch, match=r"query A vs peer: row 1 differs.*p/a.*00:02:54.513048Z"):
        compare("A", "peer", ours(), peer(ts=(T0, T0 + 120_000_001, T0)))


def test_changed_value_fails():
    with pytest.raises(ContentMismatch, match=r"query C vs SQLite: row 0 differs.*70.5.*70.5000001"):
        compare("C", "SQLite", ours(), peer(values=(70.5000001, 70.75, -0.4)))


def test_dropped_row_fails():
    with pytest.raises(ContentMismatch, match=r"query B vs peer: row"):
        compare("B", "peer", ours(), peer(points=("p/a", "p/b"), ts=(T0, T0), values=(70.5, -0.4)))


def test_dropped_last_row_fails_on_the_count():
    with pytest.raises(ContentMismatch, match=r"rows 3 \(ours\) vs 2 \(peer\); first row only in ours: \(p/b"):
        compare("B", "peer", ours(), peer(points=("p/a", "p/a"), ts=(T0, T0 + 120_000_000), values=(70.5, 70.75)))


def test_millisecond_peer_compares_at_ms():
    ms = peer(ts=(T0 // 1000 * 1000, (T0 + 120_000_000) // 1000 * 1000, T0 // 1000 * 1000))
    assert compare("A", "original layout", ours(), ms, ts_precision_us=1000) == 3
    with pytest.raises(ContentMismatch):
        compare("A", "PostgreSQL 15", ours(), ms)


def test_two_empty_answers_fail():
    empty = peer(points=(), ts=(), values=())
    with pytest.raises(ContentMismatch, match="both answers are empty"):
        compare("A", "peer", empty, empty)
