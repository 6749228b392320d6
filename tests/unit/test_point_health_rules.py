"""The point-health rules on small hand-made days (the system test compares a real site-day
with a pandas re-derivation; these pin the corners one rule at a time)."""

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from bv_pipeline.point_health import HealthParams, History, PointsInfo, compute_health, unit_range

DAY = date(2025, 6, 3)
T0 = int(np.datetime64(DAY, "us").astype(np.int64))
MIN = 60_000_000
HOUR = 60 * MIN


def info(*points) -> PointsInfo:
    """points: (name, interval_s, unit, object_type, setpoint)"""
    return PointsInfo(
        names=[p[0] for p in points], interval_s=np.array([p[1] for p in points], dtype=np.int64),
        units=[p[2] for p in points], object_types=[p[3] for p in points],
        setpoint=np.array([p[4] for p in points], dtype=bool),
    )


def minutes(values, start_min=0, every=1):
    ts = T0 + (start_min + np.arange(len(values)) * every) * MIN + 1_000_000
    return ts, np.asarray(values, dtype=float)


def run(points, samples, params=HealthParams(), history=None) -> list[dict]:
    """samples: {point index: (ts, values)}"""
    idx = np.concatenate([np.full(len(ts), i) for i, (ts, _) in samples.items()] or [np.empty(0, np.int64)])
    ts = np.concatenate([ts for ts, _ in samples.values()] or [np.empty(0, np.int64)])
    vals = np.concatenate([v for _, v in samples.values()] or [np.empty(0)])
    return compute_health(points, idx, ts, vals, DAY, params=params, history=history).to_pylist()


ZONE = ("zone", 60, "degreesFahrenheit", "analogInput", False)


def test_no_samples_means_every_point_dead():
    rows = run(info(ZONE, ("alarm", 0, None, "binaryValue", False)), {})
    assert [r["status"] for r in rows] == ["dead", "dead"]
    assert all(r["reason"] == "no samples" and r["longest_gap_s"] == 86400 and r["stale"] for r in rows)
    assert [r["expected"] for r in rows] == [1440, None]  # a COV point without history: not judged on count
    assert rows[0]["first_ts"] is None and rows[0]["samples"] == 0


def test_a_healthy_point_is_ok_and_input_order_does_not_matter():
    rng = np.random.default_rng(1)
    ts, v = minutes(np.round(72 + rng.normal(0, 0.2, 1440), 1))
    ts2, v2 = minutes(np.round(60 + rng.normal(0, 0.2, 1440), 1))
    points = info(ZONE, ("dat", 60, "degreesFahrenheit", "analogInput", False))
    sorted_rows = run(points, {0: (ts, v), 1: (ts2, v2)})
    assert [r["status"] for r in sorted_rows] == ["ok", "ok"] and sorted_rows[0]["reason"] == ""
    assert sorted_rows[0]["samples"] == 1440 and sorted_rows[0]["expected"] == 1440 and sorted_rows[0]["mode"] == "interval"
    order = np.random.default_rng(2).permutation(2880)
    idx = np.repeat([0, 1], 1440)[order]
    shuffled = compute_health(points, idx, np.concatenate([ts, ts2])[order], np.concatenate([v, v2])[order], DAY)
    assert shuffled.to_pylist() == sorted_rows


@pytest.mark.parametrize("keep, words", [
    (lambda m: m < 14 * 60, ["no sample since 13:59 UTC", "10.0 h to the end of the day", "840 of 1440"]),
    (lambda m: m >= 7 * 60, ["no sample until 07:00 UTC (7.0 h)"]),
    (lambda m: (m < 3 * 60) | (m >= 11 * 60), ["no sample for 8.0 h (02:59–11:00 UTC)"]),
])
def test_stale_gaps_at_the_end_start_or_middle(keep, words):
    ts, v = minutes(np.round(72 + np.sin(np.arange(1440) / 50), 1))
    mask = keep(np.arange(1440))
    (row,) = run(info(ZONE), {0: (ts[mask], v[mask])})
    assert row["status"] == "degraded" and row["stale"], row
    for word in words:
        assert word in row["reason"], row["reason"]


def test_short_gaps_are_not_stale():
    ts, v = minutes(np.round(72 + np.sin(np.arange(1440) / 50), 1))
    mask = (np.arange(1440) < 600) | (np.arange(1440) >= 600 + 5 * 60)  # 5 h
    (row,) = run(info(ZONE), {0: (ts[mask], v[mask])})
    assert not row["stale"] and row["longest_gap_s"] == pytest.approx(5 * 3600 + 60)
    assert "expected samples" in row["reason"]  # 1140 of 1440 is below 90 %


def test_flatline_on_analog_points_only_and_not_on_setpoints():
    flat = np.full(1440, 72.0)
    points = info(ZONE, ("zone sp", 60, "degreesFahrenheit", "analogValue", True),
                  ("fan", 60, None, "binaryOutput", False), ("niagara", 60, None, None, False),
                  ("state", 60, None, None, False))
    ts, _ = minutes(flat)
    rows = run(points, {0: (ts, flat), 1: (ts, flat), 2: (ts, np.zeros(1440)), 3: (ts, flat),
                        4: (ts, np.where(np.arange(1440) < 700, 1.0, 0.0))})
    assert [r["flatline"] for r in rows] == [True, False, False, True, False]
    assert rows[0]["reason"] == "unchanged at 72 for 24.0 h (from 00:00 UTC)"
    assert [r["kind"] for r in rows] == ["analog", "analog", "discrete", "analog", "discrete"]
    assert rows[2]["status"] == rows[4]["status"] == "ok"
    stuck = np.where(np.arange(1440) < 480, np.round(72 + np.sin(np.arange(1440) / 50), 1), 71.5)
    (row,) = run(info(ZONE), {0: (ts, stuck)})
    assert row["flatline"] and "unchanged at 71.5 for 16.0 h" in row["reason"]


def test_spikes_are_isolated_jumps_out_and_back():
    rng = np.random.default_rng(4)
    base = np.round(72 + np.sin(np.arange(1440) / 100) + rng.normal(0, 0.1, 1440), 1)
    ts, _ = minutes(base)
    spiky = base.copy()
    spiky[[100, 700, 1200]] += 30  # three spikes
    step = base.copy()
    step[800:] += 30  # a step is not a spike
    flicker = np.full(1440, 55.0)
    flicker[300] = 55.1  # one quantum on a constant signal: not a spike
    points = info(ZONE, ("b", 60, "degreesFahrenheit", "analogInput", False), ("c", 60, None, "analogValue", False))
    rows = run(points, {0: (ts, spiky), 1: (ts, step), 2: (ts, flicker)},
               params=HealthParams(flatline_hours=24.1))
    assert [r["spikes"] for r in rows] == [3, 0, 0]
    assert rows[0]["reason"] == "3 spikes" and rows[2]["status"] == "ok"
    # The threshold is BV_HEALTH_SPIKE_Z.
    assert run(info(ZONE), {0: (ts, spiky)}, params=HealthParams(spike_z=1e6))[0]["spikes"] == 0


def test_out_of_range_by_unit():
    assert unit_range("degreesCelsius")[:2] == (-40, 95) and unit_range("°F")[:2] == (-40, 200)
    assert unit_range("kilowatts") is None  # negative kW is export, not a fault
    ts, _ = minutes(np.zeros(1440))
    temp = np.round(20 + np.sin(np.arange(1440) / 40), 1)
    temp[600:610] = 120.0
    pct = np.round(50 + 10 * np.sin(np.arange(1440) / 40), 1)
    pct[5] = -3
    flow = np.round(400 + 50 * np.sin(np.arange(1440) / 40), 0)
    points = info(("c", 60, "degreesCelsius", "analogInput", False), ("p", 60, "percent", "analogOutput", False),
                  ("kw", 60, "kilowatts", "analogInput", False), ("q", 60, "cubicFeetPerMinute", "analogInput", False))
    rows = run(points, {0: (ts, temp), 1: (ts, pct), 2: (ts, -flow), 3: (ts, -flow)},
               params=HealthParams(spike_z=1e9))
    assert [r["out_of_range"] for r in rows] == [10, 1, 0, 1440]
    assert "10 samples out of range (-40…95 °C; seen" in rows[0]["reason"]
    assert "below 0 cfm" in rows[3]["reason"]
    assert rows[2]["status"] == "ok"


def test_change_of_value_points_are_judged_by_their_history():
    cov = ("fan", 60, None, "binaryValue", False)  # the catalog says 60 s, the samples say otherwise
    ts = T0 + np.arange(0, 86_400, 1200) * 1_000_000  # every 20 minutes: 72 a day
    v = (np.arange(len(ts)) % 2).astype(float)
    (row,) = run(info(cov), {0: (ts, v)})
    assert row["mode"] == "cov" and row["expected"] is None and row["status"] == "ok"
    history = History(np.array([72.0]), ["cov"], ["2025-06-01", "2025-06-02"])
    (row,) = run(info(cov), {0: (ts, v)}, history=history)
    assert row["expected"] == 72 and row["status"] == "ok"
    quiet = ts < T0 + 6 * HOUR  # 18 samples, then nothing for 18 h
    (row,) = run(info(cov), {0: (ts[quiet], v[quiet])}, history=history)
    assert row["status"] == "degraded" and row["stale"]
    assert "18 samples, usually 72 (change of value)" in row["reason"] and "no sample since" in row["reason"]
    # A point that usually reports twice a day is never stale for a long silence.
    rare = History(np.array([2.0]), ["cov"], ["2025-06-02"])
    (row,) = run(info(cov), {0: (ts[:2], v[:2])}, history=rare)
    assert not row["stale"] and row["status"] == "ok"


def test_too_few_samples_keep_the_mode_of_the_latest_health_file():
    cov = ("fan", 60, None, "binaryValue", False)
    ts = T0 + np.array([3, 9]) * HOUR
    rows = run(info(cov), {0: (ts, np.array([0.0, 1.0]))}, history=History(np.array([70.0]), ["cov"], ["d"]))
    assert rows[0]["mode"] == "cov" and rows[0]["expected"] == 70
    rows = run(info(cov), {0: (ts, np.array([0.0, 1.0]))})
    assert rows[0]["mode"] == "interval" and rows[0]["expected"] == 1440


def test_severity_orders_dead_first():
    ts, v = minutes(np.round(72 + np.sin(np.arange(1440) / 50), 1))
    points = info(("a", 60, "degreesFahrenheit", "analogInput", False), ("b", 60, "degreesFahrenheit", "analogInput", False),
                  ("c", 60, "degreesFahrenheit", "analogInput", False))
    rows = run(points, {1: (ts[:600], v[:600]), 2: (ts, v)})
    assert [r["severity"] > 0 for r in rows] == [True, True, False]
    assert rows[0]["severity"] > rows[1]["severity"]
    table = pa.Table.from_pylist(rows)
    from bv_pipeline.health_store import worst_markdown, worst_points

    worst = worst_points(table)
    assert [w["point"] for w in worst] == ["a", "b"]
    assert worst_markdown(worst).splitlines()[2].startswith("| a | dead | 0 | 1440 | no samples |")


def test_dead_share_check_decision():
    from bv_assets.health.defs import dead_ratio_outcome

    table = pa.table({"status": ["ok"] * 8 + ["dead"] * 2})
    assert dead_ratio_outcome(table, 0.2)[0] is True
    passed, text, meta = dead_ratio_outcome(table, 0.1)
    assert not passed and text.startswith("2 of 10 points dead (20.0%)") and meta["dead_ratio"] == 0.2
    assert dead_ratio_outcome(None, 0.1)[0] is False


def test_setpoints_by_tag_or_name_but_not_a_bare_sp():
    from bv_pipeline.point_health import is_setpoint

    assert is_setpoint({"name": "a/VAV-01 Zone Temp Setpoint"})
    assert is_setpoint({"name": "a/analogValue/7", "bacnet_object_name": "ZN-T STPT"})
    assert is_setpoint({"name": "a/b", "marker_tags": ["sp", "zone"]})
    assert not is_setpoint({"name": "a/AHU 1/Duct SP"})  # static pressure, a sensor
    assert not is_setpoint({"name": "a/AHU 1/Supply Fan Speed"})
