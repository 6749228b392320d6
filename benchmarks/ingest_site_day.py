"""Ingest benchmark: one reference-size site-day through raw_site_day and archived_site_day.

    .venv/bin/python benchmarks/ingest_site_day.py [--points 4583] [--page-size 50000]
        [--parallel-windows N] [--requests-per-minute R]
    .venv/bin/python benchmarks/ingest_site_day.py --curve [--curve-points 500,2000,4583,10000]

The ACE simulator runs in its own process (like the real API, it is not on our CPU budget
accounting: RSS is this process's). The two assets run through Dagster's `materialize`
with their asset checks, on local storage. Printed: wall time, samples/s, peak RSS,
archive bytes/sample, and the same day in the original Worker's Parquet layout
(timestamp, point_name, value, site_name; snappy; 10,000-row groups; API order).
Targets: <= 60 s wall and <= 1 GB peak RSS per site-day; archive <= 1/4 of the original.
Issue 12's F: raw + archive + the asset checks <= 10 s wall and <= 600 MB peak RSS, with
the simulator's CPU time (its own process) reported apart. The checks run through
`materialize` too (the multi-check of archived_site_day, every check it reports).

The ACE client runs with the resource's settings except `--requests-per-minute`: the
simulator has no quota, so by default requests are not paced (at AceResource's default of
600 a minute, a 133-page day cannot take less than 13.2 s, whatever the pipeline does).

`--curve` runs the benchmark once per size in a fresh process each (so each peak RSS is that
process's own), prints wall and peak RSS against points per site and plots them to
benchmarks/ingest_curve.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import resource
import secrets
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the launchers the suite uses: tests/support

from support.simulator import start_sim_process  # noqa: E402

CURVE_POINTS = (500, 2_000, 4_583, 10_000)
CURVE_PNG = ROOT / "benchmarks" / "ingest_curve.png"


def start_sim(points: int, token: str):
    return start_sim_process(token, "--sites", "reference", "--reference-points", str(points),
                             "--clock", "2030-01-01T00:00:00Z")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def step_windows(instance, run_id: str, shift: float) -> dict[str, tuple[float, float]]:
    """{step key: (STEP_START, STEP_SUCCESS)} of a run, as time.perf_counter() values
    (`shift`: perf_counter - time.time(), taken before the run)."""
    starts, out = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp + shift
        elif event.event_type_value == "STEP_SUCCESS":
            out[event.step_key] = (starts[event.step_key], entry.timestamp + shift)
    return out


class Sampler:
    """This process's CPU seconds and RSS every 20 ms (perf_counter, cpu s, rss MB), so one
    run's steps can each be given their share."""

    def __init__(self, every_s: float = 0.02):
        import threading

        self.every_s, self.samples = every_s, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), own_cpu_s(), rss_now_mb()))
            self._stop.wait(self.every_s)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), own_cpu_s(), rss_now_mb()))

    def _inside(self, start: float, end: float | None) -> list[tuple]:
        return [s for s in self.samples if s[0] >= start and (end is None or s[0] <= end)]

    def cpu_between(self, start: float, end: float | None) -> float:
        inside = self._inside(start, end)
        return inside[-1][1] - inside[0][1] if len(inside) > 1 else 0.0

    def peak_between(self, start: float, end: float | None) -> float:
        return max((s[2] for s in self._inside(start, end)), default=0.0)


def rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_original_layout(raw_path: Path, out: Path, site: str, day: date) -> int:
    """The original archival Worker's layout, from the same raw samples in API order
    (the same day, numeric values only: the rows our archive holds, before dedupe)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bv_pipeline.timestamps import parse_time_dictionary
    from bv_pipeline.values import parse_values

    raw = pq.ParquetFile(raw_path)
    schema = pa.schema(
        [("timestamp", pa.int64()), ("point_name", pa.string()), ("value", pa.float64()), ("site_name", pa.string())]
    )
    with pq.ParquetWriter(out, schema, compression="snappy") as writer:
        for batch in raw.iter_batches(batch_size=100_000):
            times = batch.column("time").dictionary_encode()
            ts = parse_time_dictionary(times.dictionary)[times.indices.to_numpy(zero_copy_only=False)] // 1000
            values, cats = parse_values(batch.column("value"))
            day_ms = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
            keep = (cats == 0) & (ts >= day_ms) & (ts < day_ms + 86_400_000)
            table = pa.table(
                {
                    "timestamp": pa.array(ts[keep]),
                    "point_name": batch.column("name").filter(pa.array(keep)),
                    "value": pa.array(values[keep]),
                    "site_name": pa.array([site] * int(keep.sum()), pa.string()),
                },
                schema=schema,
            )
            writer.write_table(table, row_group_size=10_000)
    return out.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=4583)
    parser.add_argument("--page-size", type=int, default=50_000)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2025, 6, 3))
    parser.add_argument("--parallel-windows", type=int, default=None,
                        help="windows of the day fetched at once (default: AceResource's default)")
    parser.add_argument("--requests-per-minute", type=float, default=math.inf,
                        help="the client's request pacing (default: none; the simulator has no quota)")
    parser.add_argument("--curve", action="store_true", help="wall and peak RSS vs points per site")
    parser.add_argument("--curve-points", default=",".join(map(str, CURVE_POINTS)))
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one line of figures (--curve)
    args = parser.parse_args()
    if args.curve:
        return run_curve([int(p) for p in args.curve_points.split(",")], args)

    token = secrets.token_urlsafe(24)
    sim, api_base = start_sim(args.points, token)
    work = Path(tempfile.mkdtemp(prefix="bv-bench-"))
    try:
        os.environ.update(
            {"ACE_API_BASE": api_base, "ACE_API_KEY": token, "BV_SITES": "ref_site",
             "BV_STORAGE_URL": str(work / "storage"), "DAGSTER_HOME": str(work / "dagster")}
        )
        (work / "dagster").mkdir()
        import dagster as dg

        from bv_assets.catalog.defs import ace_points
        from bv_assets.definitions import build_resources
        from bv_assets.partitions import SITE_PARTITIONS_NAME, site_day_key
        from bv_assets.site_day.assets import build_site_day_assets
        from bv_assets.site_day.checks import build_archive_checks
        from bv_config.settings import Settings
        from bv_resources.ace import AceResource
        from bv_store.layout import archive_key, raw_key

        settings = Settings.load()
        resources = build_resources(settings)
        ace_settings = {"page_size": args.page_size, "requests_per_minute": args.requests_per_minute}
        if args.parallel_windows is not None:
            ace_settings["parallel_windows"] = args.parallel_windows
        resources["ace"] = AceResource(api_base=api_base, api_key=dg.EnvVar("ACE_API_KEY"), **ace_settings)
        with AceResource(api_base=api_base, api_key=token, **ace_settings).get_client() as probe:
            parallel_windows = probe.parallel_windows  # as the run's client will have it
        raw_site_day, archived_site_day = build_site_day_assets(settings)
        checks = build_archive_checks(settings, archived_site_day)
        assets = [ace_points, raw_site_day, archived_site_day, checks]
        site = "ref_site"
        rss_before = peak_rss_mb()
        with dg.DagsterInstance.ephemeral() as instance:
            instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [site])
            r = dg.materialize(assets, selection=[ace_points], partition_key=site, instance=instance, resources=resources)
            assert r.success
            rss_after_catalog = peak_rss_mb()
            sim_cpu_before = cpu_s(sim.pid)
            # One run of raw, archive and every check, as site_day_job runs them; each step's
            # wall from the event log, its CPU and RSS from a sampler of this process.
            clock_shift = time.perf_counter() - time.time()  # event timestamps are epoch seconds
            with Sampler() as sampler:
                started = time.perf_counter()
                r = dg.materialize(
                    assets,
                    selection=dg.AssetSelection.assets(raw_site_day, archived_site_day) | dg.AssetSelection.checks(checks),
                    partition_key=str(site_day_key(site, args.day)), instance=instance, resources=resources,
                )
                f_wall = time.perf_counter() - started
            sim_cpu = cpu_s(sim.pid) - sim_cpu_before
            evaluations = r.get_asset_check_evaluations()
            failed = [e.check_name for e in evaluations if not e.passed]
            assert r.success and len(evaluations) == 8 and not failed, failed
            steps = step_windows(instance, r.run_id, clock_shift)
            raw_step, archive_step = steps["raw_site_day"], steps["archived_site_day"]
            checks_step = steps[next(k for k in steps if k not in ("raw_site_day", "archived_site_day"))]
            raw_wall, archive_wall, checks_wall = (b - a for a, b in (raw_step, archive_step, checks_step))
            run_overhead = f_wall - raw_wall - archive_wall - checks_wall
            total_wall = raw_wall + archive_wall
            raw_cpu = sampler.cpu_between(started, raw_step[1])
            archive_and_checks_cpu = sampler.cpu_between(raw_step[1], None)
            rss_after_raw = sampler.peak_between(started, raw_step[1])
            rss_after_archive = sampler.peak_between(started, None)
        peak = peak_rss_mb()
        raw_file = work / "storage" / raw_key(site, args.day)
        archive_file = work / "storage" / archive_key(site, args.day)
        import pyarrow.parquet as pq

        samples = pq.ParquetFile(raw_file).metadata.num_rows
        archived = pq.ParquetFile(archive_file).metadata.num_rows
        original_bytes = write_original_layout(raw_file, work / "original.parquet", site, args.day)
        archive_bytes = archive_file.stat().st_size

        print(f"\nBuilding Vitals ingest benchmark — {args.points} points x 1-min, UTC day {args.day}")
        rpm = "no pacing" if math.isinf(args.requests_per_minute) else f"{args.requests_per_minute:g} requests/min"
        print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"simulator in its own process")
        print(f"ACE client: page_size {args.page_size}; {parallel_windows} windows at once; {rpm}")
        print(f"{'':34}{'value':>16}  target")
        rows = [
            ("samples from ACE (raw_site_day)", f"{samples:,}", ""),
            ("rows archived", f"{archived:,}", ""),
            ("raw_site_day wall", f"{raw_wall:.1f} s", ""),
            ("archived_site_day wall", f"{archive_wall:.1f} s", ""),
            ("total wall (raw + archive steps)", f"{total_wall:.1f} s", "<= 60 s"),
            ("samples/s end to end", f"{samples / total_wall:,.0f}", ""),
            ("asset checks wall (8 checks)", f"{checks_wall:.1f} s", ""),
            ("Dagster outside the steps", f"{run_overhead:.1f} s", ""),
            ("peak RSS (this process)", f"{peak:,.0f} MB", "<= 1024 MB"),
            ("  peak after imports", f"{rss_before:,.0f} MB", ""),
            ("  peak after ace_points (catalog)", f"{rss_after_catalog:,.0f} MB", ""),
            ("  RSS peak during raw_site_day", f"{rss_after_raw:,.0f} MB", "(sampled every 20 ms)"),
            ("  RSS peak during the whole run", f"{rss_after_archive:,.0f} MB", "(sampled every 20 ms)"),
            ("raw zone bytes/sample", f"{raw_file.stat().st_size / samples:.3f}", ""),
            ("archive bytes/sample", f"{archive_bytes / archived:.3f}", ""),
            ("original layout bytes/sample", f"{original_bytes / archived:.3f}", ""),
            ("archive / original size", f"{archive_bytes / original_bytes:.3f}", "<= 0.25"),
        ]
        for name, value, target in rows:
            print(f"{name:34}{value:>16}  {target}")
        ok = total_wall <= 60 and peak <= 1024 and archive_bytes <= original_bytes / 4
        f_ok = f_wall <= 10 and peak <= 600
        print("\nF (issue 12): one reference site-day, raw + archive + all checks in one Dagster run (as site_day_job)")
        print(f"{'wall incl. checks':34}{f_wall:>14.1f} s  <= 10 s   {'PASS' if f_wall <= 10 else 'FAIL'}")
        print(f"{'peak RSS (this process)':34}{peak:>13,.0f} MB  <= 600 MB {'PASS' if peak <= 600 else 'FAIL'}")
        print(f"{'simulator CPU (its own process)':34}{sim_cpu:>14.1f} s  (apart, not in our budget)")
        print(f"{'our CPU (user+sys, all threads)':34}{raw_cpu + archive_and_checks_cpu:>14.1f} s  "
              f"(raw {raw_cpu:.1f} s, archive + checks {archive_and_checks_cpu:.1f} s)")
        ok = ok and f_ok
        print("targets met" if ok else "TARGETS MISSED")
        if args.json:
            print("JSON " + json.dumps({"points": args.points, "samples": samples, "raw_wall": raw_wall,
                                        "archive_wall": archive_wall, "checks_wall": checks_wall, "f_wall": f_wall,
                                        "peak_rss_mb": peak, "sim_cpu": sim_cpu,
                                        "cpu": raw_cpu + archive_and_checks_cpu}))
        return 0 if ok else 1
    finally:
        sim.terminate()
        sim.wait(timeout=10)
        if not os.environ.get("BV_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


def run_curve(sizes: list[int], args) -> int:
    """One fresh process per size; a table, and the plot at CURVE_PNG."""
    rows = []
    for points in sizes:
        cmd = [sys.executable, __file__, "--points", str(points), "--page-size", str(args.page_size),
               "--day", args.day.isoformat(), "--requests-per-minute", str(args.requests_per_minute), "--json"]
        if args.parallel_windows is not None:
            cmd += ["--parallel-windows", str(args.parallel_windows)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("JSON ")), None)
        if line is None:
            print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
            raise SystemExit(f"the {points}-point run failed (exit {done.returncode})")
        rows.append(json.loads(line[5:]))
    print(f"\ningest curve — one UTC day, 1-minute samples; one fresh process per size; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'points':>8} {'samples':>11} {'raw s':>7} {'archive s':>10} {'checks s':>9} {'total s':>8} "
          f"{'peak RSS MB':>12} {'our CPU s':>10} {'sim CPU s':>10}")
    for r in rows:
        print(f"{r['points']:>8,} {r['samples']:>11,} {r['raw_wall']:>7.1f} {r['archive_wall']:>10.1f} "
              f"{r['checks_wall']:>9.1f} {r['f_wall']:>8.1f} {r['peak_rss_mb']:>12,.0f} {r['cpu']:>10.1f} "
              f"{r['sim_cpu']:>10.1f}")
    plot_curve(rows, CURVE_PNG)
    print(f"plot: {CURVE_PNG.relative_to(ROOT)}")
    return 0


def plot_curve(rows: list[dict], out: Path) -> None:
    import matplotlib  # the bench extra; only the curve needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r["points"] for r in rows]
    fig, wall_ax = plt.subplots(figsize=(7, 4.2))
    wall_ax.plot(points, [r["f_wall"] for r in rows], "o-", color="tab:blue", label="wall: raw + archive + checks")
    wall_ax.plot(points, [r["raw_wall"] for r in rows], "o--", color="tab:cyan", label="wall: raw_site_day")
    wall_ax.axhline(10, color="tab:blue", lw=0.8, ls=":")
    wall_ax.set_ylim(bottom=0)
    wall_ax.set_xlabel("points per site (1-minute samples, one UTC day)")
    wall_ax.set_ylabel("wall seconds")
    rss_ax = wall_ax.twinx()
    rss_ax.plot(points, [r["peak_rss_mb"] for r in rows], "s-", color="tab:red", label="peak RSS (MB)")
    rss_ax.axhline(600, color="tab:red", lw=0.8, ls=":")
    rss_ax.set_ylim(bottom=0)
    rss_ax.set_ylabel("peak RSS, MB")
    lines = wall_ax.get_legend_handles_labels()[0] + rss_ax.get_legend_handles_labels()[0]
    labels = wall_ax.get_legend_handles_labels()[1] + rss_ax.get_legend_handles_labels()[1]
    wall_ax.legend(lines, labels, loc="upper left", fontsize=8)
    wall_ax.set_title("Building Vitals ingest of one site-day (dotted: issue 12 F targets at 4,583 points)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
