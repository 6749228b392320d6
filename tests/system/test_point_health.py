"""point_health on a real pipeline: the demo office with faults at known times (stuck, dead,
silent from the afternoon, an 8-hour hole, 250 °F, isolated spikes, a change-of-value point
gone quiet) is fetched from the simulator, archived and judged through Dagster for three
days. Every figure of the health file is compared with an independent pandas re-derivation
from the archive files (this test does not call bv_pipeline.point_health), each faulted point
must get its status and reason, and the health is then read back over HTTP and by `bv health`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from support.defs import pipeline_defs
from support.fixtures_pipeline import TEST_DAY, Pipeline
from support.fixtures_query import serve_app

from bv_assets.partitions import SITE_PARTITIONS_NAME, site_day_key
from bv_config.settings import Settings
from bv_query import QueryEngine
from bv_query.api import create_app
from bv_sim.catalog import demo_office, demo_school
from bv_sim.point_faults import PointFault
from bv_sim.server import SimServer
from bv_store.layout import archive_key, health_key, points_key
from bv_store.storage import Storage

REPO = Path(__file__).resolve().parents[2]
SITE = "demo_office"
PREFIX = "bvdemo/demo_office/"
DAYS = [TEST_DAY - timedelta(days=2), TEST_DAY - timedelta(days=1), TEST_DAY]
D = TEST_DAY.isoformat()
KEY = "health-key-0123456789abcdef"
OTHER_KEY = "other-key-0123456789abcdef"

# path -> (faults, expected status, words the reason must contain)
FAULTS = {
    "8000:33-8033/analogInput/1": (  # VAV-01 Zone Temp, stuck from 08:00
        [PointFault.stuck(f"{D}T08:00")], "degraded", ["unchanged at"]),
    "8000:34-8034/analogInput/1": (  # VAV-02 Zone Temp, dead all day
        [PointFault.dead(f"{D}T00:00", f"{DAYS[-1] + timedelta(days=1)}T00:00")], "dead", ["no samples"]),
    "8000:35-8035/analogOutput/3": (  # VAV-03 Damper Position, silent from 14:00
        [PointFault.dead(f"{D}T14:00", None)], "degraded", ["no sample since 13:5", "to the end of the day",
                                                               "expected samples"]),
    "8000:36-8036/analogInput/6": (  # VAV-04 Discharge Air Temp (30 s), an 8-hour hole
        [PointFault.dead(f"{D}T03:00", f"{D}T11:00")], "degraded", ["no sample for 8.0 h", "11:00 UTC"]),
    "8000:37-8037/analogInput/1": (  # VAV-05 Zone Temp at 250 °F for two hours
        [PointFault.out_of_range(f"{D}T10:00", f"{D}T12:00", 250.0)], "degraded",
        ["120 samples out of range", "°F", "250"]),
    "192.168.1.5/n4/AHU 2/Mixed Air Temp": (  # three isolated spikes
        [PointFault.spikes([f"{D}T09:15", f"{D}T13:40", f"{D}T20:05"], size=40.0)], "degraded", ["3 spikes"]),
    "8000:38-8038/analogInput/4": (  # VAV-06 Airflow (30 s), two spikes
        [PointFault.spikes([f"{D}T16:00:10", f"{D}T16:30:40"], size=600.0)], "degraded", ["2 spikes"]),
    "192.168.1.5/n4/AHU 1/Supply Fan Status": (  # change-of-value point, quiet from 06:00
        [PointFault.dead(f"{D}T06:00", None)], "degraded", ["usually", "change of value", "no sample since"]),
}
EXPECTED_SPIKES = {"192.168.1.5/n4/AHU 2/Mixed Air Temp": 3, "8000:38-8038/analogInput/4": 2}

# The oracle's own copies of the rules (module docstring of bv_pipeline/point_health.py).
STALE_H, FLAT_H, SPIKE_Z, MIN_COMPLETE, COV_MIN = 6.0, 6.0, 8.0, 0.9, 0.5
RANGES = {"degreesFahrenheit": (-40, 200), "percent": (0, 100), "cubicFeetPerMinute": (0, math.inf)}


def faulted_office():
    spec = demo_office()
    spec.faults = {path: faults for path, (faults, _, _) in FAULTS.items()}
    return spec


@pytest.fixture(scope="module")
def health_site(tmp_path_factory, sim_token):
    """Three site-days of the faulted office through Dagster: raw, archive, checks, point_health."""
    sim = SimServer(host="127.0.0.1", port=0, token=sim_token, sites=[faulted_office(), demo_school()]).start()
    storage = Storage.from_url(str(tmp_path_factory.mktemp("health") / "storage"))
    settings = Settings.load({
        "ACE_API_BASE": sim.base_url, "BV_SITES": "demo_office,demo_school", "BV_STORAGE_URL": storage.url,
        "BV_STEP_RETRIES": "0",
    })
    with pytest.MonkeyPatch.context() as mp, dg.DagsterInstance.ephemeral() as instance:
        mp.setenv("ACE_API_KEY", sim_token)
        pipe = Pipeline(instance=instance, settings=settings, storage=storage, sim=sim)
        assert pipe.catalog(SITE).success
        runs = {day: materialize_day(pipe, settings, day) for day in DAYS}
        yield pipe, runs
    sim.stop()


def materialize_day(pipe: Pipeline, settings: Settings, day, asset_names=("raw_site_day", "archived_site_day",
                                                                             "point_health")):
    d = pipeline_defs(settings)
    if SITE not in pipe.instance.get_dynamic_partitions(SITE_PARTITIONS_NAME):
        pipe.instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SITE])
    assets = [d.asset(n) for n in ("ace_points", "raw_site_day", "archived_site_day", "point_health")]
    checks = [d.checks_of("archived_site_day"), d.checks_of("point_health")]
    result = dg.materialize(assets + checks, selection=list(asset_names), partition_key=str(site_day_key(SITE, day)),
                            instance=pipe.instance, resources=d.resources, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


# --- the oracle ------------------------------------------------------------------------

def archive_frame(storage, day) -> pd.DataFrame:
    frame = pq.read_table(storage.uri(archive_key(SITE, day))).to_pandas()
    frame["point"] = frame["point"].astype(str)
    return frame.sort_values(["point", "ts"], ignore_index=True)


def catalog_frame(storage) -> pd.DataFrame:
    catalog = pq.read_table(storage.uri(points_key(SITE))).to_pandas()
    return catalog[catalog.collect_enabled.fillna(True)].set_index("name").sort_index()


def sampling_mode(ts: pd.Series, interval) -> str | None:
    if not interval or pd.isna(interval) or interval <= 0:
        return "cov"
    if len(ts) < 3:
        return None
    spacing = ts.diff().dropna().dt.total_seconds().median()
    return "cov" if spacing > 1.5 * interval else "interval"


def text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def is_setpoint(row) -> bool:
    tags = {t.lower() for t in (row.marker_tags if row.marker_tags is not None else [])}
    text_ = f"{row.name} {text(row.bacnet_object_name)}".lower()
    words = text_.replace("/", " ").replace("-", " ").split()
    return bool(tags & {"sp", "setpoint"}) or "set point" in text_ or any(w in words for w in ("setpoint", "stpt"))


def is_analog(row, values: pd.Series) -> bool:
    otype = text(row.bacnet_object_type).lower()
    if otype:
        return not (otype.startswith("binary") or otype.startswith("multistate"))
    if text(row.unit) and text(row.unit).lower() != "nounits":
        return True
    if values.empty or values.min() < 0 or values.max() > 255 or not (values == values.round()).all():
        return True
    if values.max() <= 1:
        return False
    return not 2 <= values.nunique() <= 8


def spike_count(values: pd.Series) -> int:
    d = values.diff().iloc[1:].reset_index(drop=True)
    if d.empty:
        return 0
    med = d.median()
    mad = (d - med).abs().median()
    nonzero = d.abs()[d.abs() > 0]
    scale = max(1.4826 * mad, nonzero.min() if len(nonzero) else 0.0)
    if scale <= 0:
        return 0
    z = (d - med) / scale
    count = 0
    for k in range(len(z) - 1):  # z[k] is the jump into sample k+1, z[k+1] the jump out of it
        if abs(z[k]) > SPIKE_Z and abs(z[k + 1]) > SPIKE_Z and np.sign(z[k]) != np.sign(z[k + 1]):
            count += 1
    return count


def oracle(storage) -> pd.DataFrame:
    catalog = catalog_frame(storage)
    day_start = pd.Timestamp(TEST_DAY, tz="UTC")
    day_end = day_start + pd.Timedelta(days=1)
    frames = {day: archive_frame(storage, day) for day in DAYS}
    counts = {day: f.groupby("point").size() for day, f in frames.items()}
    rows = []
    for name, info in catalog.iterrows():
        own = frames[TEST_DAY][frames[TEST_DAY].point == name]
        ts, values = own.ts.reset_index(drop=True), own.value.reset_index(drop=True)
        samples = len(own)
        interval = info.collect_interval
        mode = sampling_mode(ts, interval)
        if mode is None:  # too few samples to tell: the mode of the day before
            before = frames[DAYS[-2]]
            mode = sampling_mode(before[before.point == name].ts, interval) or "interval"
        history = [int(counts[day].get(name, 0)) for day in DAYS[:-1]]
        expected = round(86400 / interval) if mode == "interval" else int(round(float(np.median(history))))
        edges = [0.0] if samples == 0 else [
            (ts.iloc[0] - day_start).total_seconds(), (day_end - ts.iloc[-1]).total_seconds(),
            *ts.diff().dropna().dt.total_seconds()]
        longest_gap = 86400.0 if samples == 0 else max(edges)
        judged = mode == "interval" or expected * STALE_H / 24 >= 4
        stale = samples == 0 or (judged and longest_gap >= STALE_H * 3600)
        analog = is_analog(info, values)
        run = (values != values.shift()).cumsum()
        flat_s = (ts.groupby(run).max() - ts.groupby(run).min()).dt.total_seconds().max() if samples else 0.0
        flatline = bool(samples >= 2 and analog and not is_setpoint(info) and flat_s >= FLAT_H * 3600)
        lo, hi = RANGES.get(text(info.unit), (-math.inf, math.inf))
        out_of_range = int(((values < lo) | (values > hi)).sum()) if analog else 0
        spikes = spike_count(values) if analog else 0
        few = samples < (MIN_COMPLETE if mode == "interval" else COV_MIN) * expected
        if samples == 0:
            status = "dead"
        elif few or stale or flatline or out_of_range or spikes:
            status = "degraded"
        else:
            status = "ok"
        rows.append(dict(point=name, status=status, samples=samples, expected=expected, mode=mode,
                         longest_gap_s=longest_gap, stale=stale, flatline=flatline, longest_flat_s=float(flat_s or 0),
                         out_of_range=out_of_range, spikes=spikes, kind="analog" if analog else "discrete"))
    return pd.DataFrame(rows).set_index("point").sort_index()


# --- the tests -------------------------------------------------------------------------

def health_frame(storage, day=TEST_DAY) -> pd.DataFrame:
    return pq.read_table(storage.uri(health_key(SITE, day))).to_pandas().set_index("point").sort_index()


def test_every_figure_matches_an_independent_pandas_derivation(health_site):
    pipe, _ = health_site
    got, want = health_frame(pipe.storage), oracle(pipe.storage)
    assert list(got.index) == list(want.index)
    for column in ("status", "samples", "mode", "stale", "flatline", "out_of_range", "spikes", "kind"):
        diff = got[column] != want[column]
        assert not diff.any(), f"{column}:\n{pd.concat([got.loc[diff, column], want.loc[diff, column]], axis=1)}"
    assert (got.expected.astype("Int64") == want.expected.astype("Int64")).all()
    assert np.allclose(got.longest_gap_s, want.longest_gap_s, rtol=0, atol=1e-6)
    assert np.allclose(got.longest_flat_s, want.longest_flat_s, rtol=0, atol=1e-6)
    # The day before had no faults: its change-of-value points were judged against one day.
    before = health_frame(pipe.storage, DAYS[1])
    cov = before[before["mode"] == "cov"]
    assert len(cov) >= 3 and cov.expected.notna().all()
    assert health_frame(pipe.storage, DAYS[0]).query("mode == 'cov'").expected.isna().all()


def test_each_faulted_point_gets_its_status_and_reason(health_site):
    pipe, _ = health_site
    got = health_frame(pipe.storage)
    for path, (_, status, words) in FAULTS.items():
        row = got.loc[PREFIX + path]
        assert row.status == status, (path, row.status, row.reason)
        for word in words:
            assert word in row.reason, (path, word, row.reason)
    for path, count in EXPECTED_SPIKES.items():
        assert got.loc[PREFIX + path, "spikes"] == count
    stuck = got.loc[PREFIX + "8000:33-8033/analogInput/1"]
    assert stuck.flatline and stuck.longest_flat_s >= 15.9 * 3600
    assert got.loc[PREFIX + "8000:37-8037/analogInput/1", "out_of_range"] == 120
    assert got.loc[PREFIX + "8000:34-8034/analogInput/1", "longest_gap_s"] == 86400
    # Nothing else is wrong with the office: setpoints are constant by design, binaries flip.
    others = got.drop(index=[PREFIX + p for p in FAULTS])
    assert (others.status == "ok").all(), others[others.status != "ok"][["status", "reason"]]
    # The same points were fine the day before the faults.
    assert (health_frame(pipe.storage, DAYS[1]).status == "ok").all()


def test_metadata_and_the_dead_share_check(health_site):
    pipe, runs = health_site
    result = runs[TEST_DAY]
    (mat,) = result.asset_materializations_for_node("point_health")
    meta = {k: v.value for k, v in mat.metadata.items()}
    got = health_frame(pipe.storage)
    assert meta["dagster/row_count"] == len(got)
    assert (meta["ok"], meta["degraded"], meta["dead"]) == (
        (got.status == "ok").sum(), (got.status == "degraded").sum(), (got.status == "dead").sum())
    table = meta["worst_points"]
    assert table.startswith("| point | status |") and PREFIX + "8000:34-8034/analogInput/1" in table.splitlines()[2]
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "dead_points_ratio"]
    assert check.passed and check.severity == dg.AssetCheckSeverity.WARN  # 1 of 99 dead
    # With a tighter limit the same day warns, and point_health still succeeds (not blocking).
    strict = dataclasses.replace(pipe.settings, health_dead_warn_ratio=0.005)
    again = materialize_day(pipe, strict, TEST_DAY, asset_names=("point_health",))
    (check,) = [c for c in again.get_asset_check_evaluations() if c.check_name == "dead_points_ratio"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "1 of 99 points dead" in check.description


@pytest.fixture(scope="module")
def health_api(health_site):
    pipe, _ = health_site
    keys = f"{KEY},{OTHER_KEY}:demo_school"
    with serve_app(create_app(QueryEngine(pipe.storage), api_keys=keys, cors_origins="")) as url:
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {KEY}"}) as client:
            yield client, pipe


def test_api_day_report_follows_the_contract(health_api):
    api, pipe = health_api
    got = health_frame(pipe.storage)
    r = api.get(f"/sites/{SITE}/health", params={"date": D})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"site", "date", "summary", "points"} and (body["site"], body["date"]) == (SITE, D)
    assert body["summary"] == {s: int((got.status == s).sum()) for s in ("ok", "degraded", "dead")}
    fields = {"point", "display_name", "unit", "status", "reason", "samples", "expected", "longest_gap_s", "stale",
              "flatline", "out_of_range", "spikes"}
    assert len(body["points"]) == len(got)
    for p in body["points"]:
        assert set(p) == fields
        row = got.loc[p["point"]]
        assert (p["status"], p["reason"], p["samples"], p["stale"], p["flatline"], p["out_of_range"], p["spikes"]) == (
            row.status, row.reason, row.samples, row.stale, row.flatline, row.out_of_range, row.spikes)
        assert p["expected"] == (None if pd.isna(row.expected) else int(row.expected))
        assert p["longest_gap_s"] == pytest.approx(row.longest_gap_s)
    first = body["points"][0]
    assert first["status"] == "dead" and first["display_name"] == "VAV-02 Zone Temp" and first["unit"] == "°F"
    assert [p["status"] for p in body["points"]][-1] == "ok"
    # No file for that day: 404 with an error; a bad date: 400; no date: the newest day.
    missing = api.get(f"/sites/{SITE}/health", params={"date": "2025-05-01"})
    assert missing.status_code == 404 and "error" in missing.json()
    assert api.get(f"/sites/{SITE}/health", params={"date": "2025-13-01"}).status_code == 400
    assert api.get(f"/sites/{SITE}/health").json()["date"] == D


def test_api_point_history_status_filter_and_keys(health_api):
    api, _ = health_api
    stuck = PREFIX + "8000:33-8033/analogInput/1"
    r = api.get(f"/sites/{SITE}/health", params={"point": stuck, "start": DAYS[0].isoformat(), "end": D})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["site"], body["point"]) == (SITE, stuck)
    assert [d["date"] for d in body["days"]] == [d.isoformat() for d in DAYS]
    assert [d["status"] for d in body["days"]] == ["ok", "ok", "degraded"]
    assert "unchanged at" in body["days"][-1]["reason"] and body["days"][0]["reason"] == ""
    one = api.get(f"/sites/{SITE}/health", params={"point": stuck, "start": D, "end": D}).json()
    assert [d["date"] for d in one["days"]] == [D]
    # The point search keeps the points with a status in the newest health file.
    dead = api.get(f"/sites/{SITE}/points", params={"status": "dead"}).json()
    assert [p["name"] for p in dead["points"]] == [PREFIX + "8000:34-8034/analogInput/1"]
    degraded = api.get(f"/sites/{SITE}/points", params={"status": "degraded", "limit": 1000}).json()
    assert {p["name"] for p in degraded["points"]} == {PREFIX + p for p, (_, s, _) in FAULTS.items() if s == "degraded"}
    zone = api.get(f"/sites/{SITE}/points", params={"q": "zone temp", "status": "degraded"}).json()
    assert {p["display_name"] for p in zone["points"]} == {"VAV-01 Zone Temp", "VAV-05 Zone Temp"}
    assert api.get(f"/sites/{SITE}/points", params={"status": "sick"}).status_code == 400
    # Keys: as every site endpoint.
    assert httpx.get(f"{api.base_url}/sites/{SITE}/health").status_code == 401
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    assert httpx.get(f"{api.base_url}/sites/{SITE}/health", headers=other).status_code == 403
    assert httpx.get(f"{api.base_url}/sites/{SITE}/points", params={"status": "ok"}, headers=other).status_code == 403


def test_bv_health_prints_the_summary_and_the_worst_points(health_site):
    pipe, _ = health_site
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "DAGSTER_"))}
    env.update(BV_STORAGE_URL=pipe.storage.url, BV_SITES="demo_office")
    proc = subprocess.run([sys.executable, "-m", "bv_cli.main", "health", "--site", SITE, "--date", D],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = health_frame(pipe.storage)
    lines = proc.stdout.splitlines()
    assert lines[0] == f"point health of {SITE} on {D} (UTC): {len(got)} points"
    ok, degraded, dead = ((got.status == s).sum() for s in ("ok", "degraded", "dead"))
    assert lines[1].split() == ["ok", str(ok), "degraded", str(degraded), "dead", str(dead)]
    worst = [line for line in lines if line.startswith("  dead") or line.startswith("  degraded")]
    assert len(worst) == degraded + dead and worst[0].split()[0] == "dead" and "VAV-02 Zone Temp" in worst[0]
    assert any("unchanged at" in line for line in worst)
    missing = subprocess.run([sys.executable, "-m", "bv_cli.main", "health", "--site", SITE, "--date", "2025-05-01"],
                             env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no point health" in missing.stderr


@pytest.mark.parametrize("check_passed", [True, False])
def test_point_health_follows_an_archived_day_only_when_its_blocking_checks_passed(check_passed, monkeypatch):
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    monkeypatch.setenv("ACE_API_KEY", "unused-here")
    d = pipeline_defs(Settings.load({}))
    archive_checks = d.checks_of("archived_site_day")
    defs = dg.Definitions(
        assets=[d.asset(n) for n in ("ace_points", "raw_site_day", "archived_site_day", "point_health")],
        asset_checks=[archive_checks, d.checks_of("point_health")], resources=d.resources,
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SITE])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        key = str(site_day_key(SITE, TEST_DAY))
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="archived_site_day", partition=key))
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("archived_site_day"), asset_partitions=[key]), limit=1
        ).records[0]
        target = AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
        for spec in archive_checks.check_specs:
            instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("archived_site_day"), check_name=spec.name, partition=key,
                passed=check_passed or not spec.blocking, severity=dg.AssetCheckSeverity.ERROR, blocking=spec.blocking,
                target_materialization_data=target))
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        requested = [str(k) for k in second.get_requested_partitions(dg.AssetKey("point_health"))]
    assert requested == ([key] if check_passed else [])
