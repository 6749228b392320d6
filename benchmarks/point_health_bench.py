"""Point-health benchmark: one reference-size site-day through point_health, and the year of
one point at 1 h that a health heatmap asks for.

    .venv/bin/python benchmarks/point_health_bench.py [--work DIR] [--repeat 5] [--year-points 100]

1. point_health: a reference-size site-day (4,583 points x 1,440 minutes = 6,599,520 samples,
   generated with numpy: BMS-like analog signals rounded like a controller, setpoints,
   binaries, scrape jitter, a few faulted points) is written with the archive's own writer
   (`archive_build.write_archive_file`) to a LocalStorage with a matching catalog, then
   `build_point_health` runs on it in a fresh process (so its peak RSS is its own), --repeat
   times. Target: <= 5 s wall.
2. Heatmap request: `QueryEngine.query(site, [point], 365 days, interval="1h")` served from
   the 12 hourly rollups (`rollup_build.build_month_rollup` over 365 generated archive days).
   Writing 365 reference-size days (2.4 G samples) is not feasible here, so the year has fewer
   points (--year-points, default 100, all 1-minute, all 365 days); a second year keeps all
   4,583 points at one sample an hour, so the rollup files have their full reference size
   (points x hours rows) and the query prunes row groups as it would for real. Target: <= 50 ms
   median (warm; the first, cold query is shown too).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bv_pipeline.archive_build import write_archive_file  # noqa: E402
from bv_store.catalog import snapshot_catalog  # noqa: E402
from bv_store.layout import archive_key, health_key, points_key  # noqa: E402
from bv_store.publish import publish  # noqa: E402
from bv_store.schemas import CATALOG_SCHEMA  # noqa: E402
from bv_store.storage import LocalStorage  # noqa: E402

SITE = "ref_site"
CLIENT = "bvdemo"
DAY = date(2025, 6, 3)
N_POINTS = 4583
YEAR_START = date(2025, 1, 1)
YEAR_DAYS = 365
US = 1_000_000
DAY_US = 86_400 * US

# (object_type, label, kind, unit, base, amp, noise, decimals) — as the simulator's synthetic VAVs
KINDS = [
    ("analogInput", "Zone Temp", "analog", "degreesFahrenheit", 72.0, 1.5, 0.15, 1),
    ("analogValue", "Zone Temp Setpoint", "setpoint", "degreesFahrenheit", 72.0, 0.0, 0.0, 1),
    ("analogInput", "Discharge Air Temp", "analog", "degreesFahrenheit", 60.0, 4.0, 0.3, 2),
    ("analogOutput", "Damper Position", "analog", "percent", 45.0, 30.0, 2.0, 1),
    ("analogInput", "Airflow", "analog", "cubicFeetPerMinute", 450.0, 250.0, 25.0, 0),
    ("binaryValue", "Occupancy", "binary", None, 0.0, 0.0, 0.0, 0),
    ("analogValue", "Reheat Valve", "analog", "percent", 40.0, -20.0, 3.0, 1),
    ("analogValue", "Space Temp Offset", "analog", "deltaDegreesFahrenheit", -0.5, 0.4, 0.05, 4),
]


def point_table(n_points: int) -> list[dict]:
    """Catalog rows, sorted by name (the archive's point order)."""
    rows = []
    for i in range(n_points):
        dev = i // 50
        otype, label, kind, unit, *_ = KINDS[i % len(KINDS)]
        addr = f"{1000 + dev // 200}:{dev % 200 + 1}-{10000 + dev}"
        rows.append({
            "name": f"{CLIENT}/{SITE}/{addr}/{otype}/{i % 50 + 1}", "site": SITE, "client": CLIENT,
            "point_type": "bacnet", "collect_enabled": True, "collect_interval": 60,
            "marker_tags": ["vav", "point"], "kv_tags": [("equip", f"VAV-{dev + 1:03d}")], "unit": unit,
            "bacnet_object_type": otype, "bacnet_object_name": f"VAV-{dev + 1:03d} {label}",
            "bacnet_device_name": f"VAV-{dev + 1:03d}", "_kind": i % len(KINDS),
        })
    rows.sort(key=lambda r: r["name"])
    return rows


def write_catalog(storage: LocalStorage, rows: list[dict]) -> str:
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
                                 schema=CATALOG_SCHEMA)
    publish(storage, points_key(SITE), lambda p: pq.write_table(table, p, compression="zstd"),
            expect_rows=table.num_rows)
    return snapshot_catalog(storage, SITE)[1]


def day_table(rows: list[dict], day: date, per_day: int, rng: np.random.Generator, faults: bool) -> pa.Table:
    """One archived day: every point `per_day` samples, sorted by (point, ts), vectorized."""
    n = len(rows)
    step = DAY_US // per_day
    start = int(np.datetime64(day, "us").astype(np.int64))
    kind = np.array([r["_kind"] for r in rows])
    params = np.array([KINDS[k][4:8] for k in kind], dtype=np.float64)  # base, amp, noise, decimals
    phase = rng.integers(0, max(step // 2, 1), size=n // 50 + 2)[np.arange(n) // 50]  # one per device
    slot = np.arange(per_day, dtype=np.int64)
    ts = start + slot[None, :] * step + phase[:, None] + rng.integers(5_000, 2_000_000, size=(n, per_day))
    hours = (ts - start) / 3.6e9
    base, amp, noise, dec = (params[:, k][:, None] for k in range(4))
    value = base + amp * np.sin(2 * np.pi * (hours - 9) / 24) + noise * (rng.random((n, per_day)) * 2 - 1)
    scale = 10.0 ** dec
    value = np.rint(value * scale) / scale
    binary = kind == 5
    value[binary] = ((hours[binary] >= 11) & (hours[binary] < 24)).astype(np.float64)
    pidx = np.repeat(np.arange(n, dtype=np.int32), per_day)
    keep = np.ones(n * per_day, dtype=bool)
    if faults:  # a dead point, a stuck one from 08:00, one at 250 °F for 2 h, one with a spike
        value[3, per_day // 3:] = value[3, per_day // 3]
        keep[8 * per_day:9 * per_day] = False
        value[16, per_day // 2:per_day // 2 + per_day // 12] = 250.0
        value[24, per_day // 4] += 60.0
    table = pa.Table.from_arrays(
        [pa.DictionaryArray.from_arrays(pa.array(pidx[keep]), pa.array([r["name"] for r in rows])),
         pa.array(ts.reshape(-1)[keep], pa.timestamp("us", tz="UTC")), pa.array(value.reshape(-1)[keep])],
        names=["point", "ts", "value"],
    )
    return table


def write_day(storage: LocalStorage, table: pa.Table, day: date, version: str) -> None:
    publish(storage, archive_key(SITE, day), lambda p: write_archive_file(table, p, version),
            expect_rows=table.num_rows)


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not inherit the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- 1. point_health on a reference day --------------------------------------------------

def measure(root: str) -> None:
    """Child process: one build_point_health run; prints JSON figures."""
    before = peak_rss_mb()
    from bv_pipeline.health_store import build_point_health

    storage = LocalStorage(Path(root))
    cpu0 = time.process_time()
    began = time.perf_counter()
    result = build_point_health(storage, SITE, DAY)
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu0
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak_rss_mb(), "rss_before_mb": before,
                      "counts": result.counts, "rows": result.archive_rows, "points": result.points,
                      "history_days": len(result.history_days),
                      "worst": [(w["point"].rsplit("/", 3)[-3:], w["reason"]) for w in result.worst(5)]}))


def bench_point_health(work: Path, repeat: int) -> dict:
    storage = LocalStorage(work / "day")
    rows = point_table(N_POINTS)
    began = time.perf_counter()
    version = write_catalog(storage, rows)
    table = day_table(rows, DAY, 1440, np.random.default_rng(3), faults=True)
    write_day(storage, table, DAY, version)
    gen_s = time.perf_counter() - began

    def child() -> dict:
        out = subprocess.run([sys.executable, __file__, "--measure", str(storage.root)], capture_output=True,
                             text=True, check=True, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = child()  # no history yet
    # As in production, the timed runs also read the previous 7 days' health files (copies here).
    with storage.local_copy(health_key(SITE, DAY)) as path:
        for back in range(1, 8):
            storage.put_file(path, health_key(SITE, DAY - timedelta(days=back)))
    runs = [child() for _ in range(repeat)]
    return {"gen_s": gen_s, "rows": table.num_rows, "bytes": storage.size(archive_key(SITE, DAY)), "runs": runs,
            "first": first}


# --- 2. the heatmap year -----------------------------------------------------------------

def build_year(root: Path, n_points: int, per_day: int) -> tuple[LocalStorage, str, dict]:
    from bv_pipeline.rollup_build import build_month_rollup

    storage = LocalStorage(root)
    rows = point_table(n_points)
    version = write_catalog(storage, rows)
    rng = np.random.default_rng(5)
    began = time.perf_counter()
    samples = 0
    for k in range(YEAR_DAYS):
        table = day_table(rows, YEAR_START + timedelta(days=k), per_day, rng, faults=False)
        samples += table.num_rows
        write_day(storage, table, YEAR_START + timedelta(days=k), version)
    write_s = time.perf_counter() - began
    began = time.perf_counter()
    rollup_rows = rollup_bytes = 0
    for month in range(1, 13):
        result = build_month_rollup(storage, SITE, f"{YEAR_START.year}-{month:02d}")
        rollup_rows += result.rows
        rollup_bytes += result.file_bytes
    rollup_s = time.perf_counter() - began
    point = next(r["name"] for r in rows if r["_kind"] == 0)  # a zone temperature
    return storage, point, {"samples": samples, "write_s": write_s, "rollup_s": rollup_s,
                            "rollup_rows": rollup_rows, "rollup_bytes": rollup_bytes}


def bench_heatmap(storage: LocalStorage, point: str, repeat: int) -> dict:
    from bv_query import QueryEngine

    engine = QueryEngine(storage)
    start, end = YEAR_START.isoformat(), (YEAR_START + timedelta(days=YEAR_DAYS)).isoformat()
    began = time.perf_counter()
    first = engine.query(SITE, [point], start, end, interval="1h")
    cold_ms = (time.perf_counter() - began) * 1000
    times, cpu = [], []
    for _ in range(repeat):
        cpu0 = time.process_time()
        began = time.perf_counter()
        result = engine.query(SITE, [point], start, end, interval="1h")
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - cpu0) * 1000)
    engine.close()
    assert result.table.num_rows == first.table.num_rows
    return {"cold_ms": cold_ms, "median_ms": statistics.median(times), "cpu_ms": statistics.median(cpu), "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))],
            "rows": result.table.num_rows, "source": result.metadata["source"],
            "days_from_rollup": result.metadata["days_from_rollup"], "files_read": result.metadata["files_read"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", help="work folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--repeat", type=int, default=5, help="point_health runs (each in a fresh process)")
    parser.add_argument("--query-repeat", type=int, default=50, help="warm heatmap queries")
    parser.add_argument("--year-points", type=int, default=100, help="points of the 1-minute year")
    parser.add_argument("--skip-full-year", action="store_true", help="skip the all-points, 1-sample-an-hour year")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return 0
    with tempfile.TemporaryDirectory(prefix="bv-health-bench-", dir=args.work) as tmp:
        work = Path(tmp)
        print(f"Building Vitals point-health benchmark — machine: {os.cpu_count()} cores, "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        ph = bench_point_health(work, args.repeat)
        walls = [r["wall_s"] for r in ph["runs"]]
        last = ph["runs"][-1]
        print(f"\n1. point_health, reference site-day {DAY}: {N_POINTS} points x 1,440 min "
              f"= {ph['rows']:,} samples ({ph['bytes'] / 1e6:.1f} MB archive; generated + written in {ph['gen_s']:.1f} s)")
        print(f"   first run (no history)             {ph['first']['wall_s']:.2f} s")
        print(f"   wall per run, {ph['runs'][0]['history_days']} days of history    {', '.join(f'{w:.2f}' for w in walls)} s  (fresh process each)")
        print(f"   median wall                        {statistics.median(walls):.2f} s   target <= 5 s  "
              f"{'met' if statistics.median(walls) <= 5 else 'MISSED'}")
        print(f"   median CPU time (all threads)      {statistics.median(r['cpu_s'] for r in ph['runs']):.2f} s")
        print(f"   peak RSS (process)                 {max(r['peak_rss_mb'] for r in ph['runs']):.0f} MB  "
              f"(after imports {last['rss_before_mb']:.0f} MB)")
        print(f"   statuses                           {last['counts']}")
        for name, reason in last["worst"]:
            print(f"     {'/'.join(name):<34} {reason}")

        years = [("1-minute samples, fewer points", args.year_points, 1440)]
        if not args.skip_full_year:
            years.append(("all points, one sample an hour (reference-size rollups)", N_POINTS, 24))
        print(f"\n2. heatmap request: QueryEngine.query(site, [point], {YEAR_DAYS} days, interval='1h') from hourly rollups")
        for label, n_points, per_day in years:
            storage, point, built = build_year(work / f"year-{n_points}-{per_day}", n_points, per_day)
            q = bench_heatmap(storage, point, args.query_repeat)
            print(f"   year of {n_points} points, {label}: all {YEAR_DAYS} days generated")
            print(f"     {built['samples']:,} samples written in {built['write_s']:.1f} s; 12 rollups "
                  f"({built['rollup_rows']:,} rows, {built['rollup_bytes'] / 1e6:.1f} MB) in {built['rollup_s']:.1f} s")
            print(f"     answer: {q['rows']} hourly values, source {q['source']}, {q['days_from_rollup']} days "
                  f"from rollups, {q['files_read']} files")
            print(f"     cold {q['cold_ms']:.1f} ms; warm median {q['median_ms']:.1f} ms (CPU {q['cpu_ms']:.1f} ms), "
                  f"p95 {q['p95_ms']:.1f} ms ({args.query_repeat} runs)   target <= 50 ms  "
                  f"{'met' if q['median_ms'] <= 50 else 'MISSED'}")
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"(on {os.cpu_count()} cores; other work on the machine stretches wall times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
