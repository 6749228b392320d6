"""Backfill throughput (site-days per minute) vs sites, through the Dagster daemon (issue 12).

    .venv/bin/python benchmarks/backfill_bench.py [--sites 1,4,16] [--days 3] [--points 300] \
        [--latency-s 0.5] [--keep-automation] [--png benchmarks/backfill_curve.png] [--keep-work] [--no-fail]

For each site count N, from scratch: a fresh BV_HOME and DAGSTER_HOME whose dagster.yaml is the
shipped one, byte for byte (`bv_cli/shipped/dagster.yaml`: the `ace_api` pool limit, the run
queue's max_concurrent_runs and tag limits, run monitoring and retries); the ACE simulator in its
own process with N sites of `--points` points at one sample a minute, every request answered
after `--latency-s` (benchmarks/backfill_sim.py); the sites registered and their catalogs
(`ace_points`) materialized before the daemon starts (what `sites_sensor` does); a real
`dagster-webserver` and `dagster-daemon` on the shipped workspace. Unless `--keep-automation`,
the schedules and sensors (live sync every 5 minutes, day close, rollup / health automation, ...)
are stopped through the webserver before the daemon starts, so the backfill's runs are the only
runs. One partition backfill of raw_site_day + archived_site_day over N sites x D days is
launched through GraphQL (`bv_cli.backfill.BackfillClient`, what `bv backfill` and the UI send),
and timed from the launch to the end of its last run.

Every run must succeed and every site-day's archive must exist and hold rows (row counts from
the Parquet footers); otherwise exit 2 (unless --no-fail). Prints a table and writes the curve
as a PNG (matplotlib, the `bench` extra).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the launchers the suite uses: tests/support
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
import yaml  # noqa: E402
from backfill_sim import site_names  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.waiting import http_ok, wait_for  # noqa: E402

FIRST_DAY = date(2025, 6, 3)


@dataclass
class Outcome:
    sites: int
    days: int
    site_days: int
    wall_s: float = 0.0
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    other_runs: int = 0  # runs not of the backfill (automation, live sync) in the window
    mean_run_s: float = 0.0
    max_run_s: float = 0.0
    mean_queue_s: float = 0.0
    max_concurrent_runs: int = 0
    mean_parallel_runs: float = 0.0  # run-seconds / wall seconds
    max_in_progress: int = 0  # runs dequeued (STARTING) and not finished: what the queue's limits count
    mean_startup_s: float = 0.0  # RUN_STARTING -> RUN_START: the run worker process starting
    first_dequeue_s: float = 0.0  # launch -> first run dequeued (the backfill daemon's first tick)
    failures: list[str] = field(default_factory=list)
    max_concurrent_ace_steps: int = 0
    mean_raw_step_s: float = 0.0
    mean_archive_step_s: float = 0.0
    ace_requests: int = 0
    rows: int = 0
    min_rows: int = 0
    backfill_status: str = ""
    setup_s: float = 0.0
    load_before: str = ""
    load_after: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def per_minute(self) -> float:
        return self.site_days / self.wall_s * 60 if self.wall_s else 0.0


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers() -> None:
    """SIGTERM / SIGHUP / SIGINT unwind through the finally blocks, so every started process is
    stopped. (Again after an in-process `materialize`: Dagster maps SIGTERM to its own handler.)"""
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, _interrupt)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    best = cur = 0
    for _, delta in events:
        cur += delta
        best = max(best, cur)
    return best


# --------------------------------------------------------------------------- processes
class Processes:
    """Every process this benchmark starts, each in its own session (process group)."""

    def __init__(self, log: Path):
        self.log = log
        self.started: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict) -> subprocess.Popen:
        with self.log.open("a") as out:
            proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.started.append(proc)
        return proc

    def stop_all(self, dagster_home: Path | None) -> None:
        for proc in reversed(self.started):
            _stop_group(proc)
        # Run workers and code servers started by the daemon: any process left whose
        # environment names this benchmark's DAGSTER_HOME (they are ours, whatever their group).
        if dagster_home is not None:
            for pid in _pids_with_env(f"DAGSTER_HOME={dagster_home}"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _stop_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group's stragglers (code servers, run workers)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _pids_with_env(entry: str) -> list[int]:
    needle, me = entry.encode() + b"\0", os.getpid()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            if needle in (d / "environ").read_bytes() + b"\0":
                found.append(int(d.name))
        except OSError:
            continue
    return found


# --------------------------------------------------------------------------- GraphQL
_INSTIGATORS = """
query { repositoriesOrError { __typename ... on RepositoryConnection { nodes {
  schedules { id name scheduleState { status } }
  sensors { id name sensorState { status } } } } } }"""
_STOP_SCHEDULE = """mutation($id: String) { stopRunningSchedule(id: $id) { __typename
  ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""
_STOP_SENSOR = """mutation($id: String) { stopSensor(id: $id) { __typename
  ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }"""


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    r = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    r.raise_for_status()
    body = r.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL: {body['errors']}")
    return body["data"]


def stop_instigators(url: str) -> list[str]:
    """Stop every schedule and sensor of the code location (instance state; dagster.yaml is untouched)."""
    # (list in the repository, its state field, stop mutation, its result field, success type)
    kinds = [("schedules", "scheduleState", _STOP_SCHEDULE, "stopRunningSchedule", "ScheduleStateResult"),
             ("sensors", "sensorState", _STOP_SENSOR, "stopSensor", "StopSensorMutationResult")]
    stopped = []
    repos = _graphql(url, _INSTIGATORS)["repositoriesOrError"]
    for repo in repos["nodes"]:
        for listing, state, mutation, field, ok in kinds:
            for item in repo[listing]:
                if item[state]["status"] != "STOPPED":
                    res = _graphql(url, mutation, {"id": item["id"]})[field]
                    if res["__typename"] != ok:
                        raise RuntimeError(f"{listing[:-1]} {item['name']} not stopped: {res}")
                stopped.append(item["name"])
    repos = _graphql(url, _INSTIGATORS)["repositoriesOrError"]
    running = [item["name"] for r in repos["nodes"] for listing, state, *_ in kinds for item in r[listing]
               if item[state]["status"] != "STOPPED"]
    if running:
        raise RuntimeError(f"still running after stop: {running}")
    return stopped


# --------------------------------------------------------------------------- one point of the curve
def run_one(n_sites: int, days: int, points: int, latency_s: float, keep_automation: bool,
            timeout_s: float, verbose: bool, keep_work: bool = False) -> Outcome:
    import dagster as dg

    from bv_cli.backfill import BackfillClient
    from bv_cli.home import SHIPPED_DAGSTER_YAML, SHIPPED_WORKSPACE
    from bv_config.settings import Settings
    from bv_store.layout import archive_key
    from bv_store.storage import Storage
    from support.defs import pipeline_defs

    sites = site_names(n_sites)
    day_list = [FIRST_DAY + timedelta(days=i) for i in range(days)]
    out = Outcome(sites=n_sites, days=days, site_days=n_sites * days, load_before=load_average())
    work = Path(tempfile.mkdtemp(prefix=f"bv-backfill-{n_sites}-"))
    bv_home, home, storage_dir = work / "bv_home", work / "bv_home" / "dagster_home", work / "bv_home" / "storage"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_bytes(SHIPPED_DAGSTER_YAML.read_bytes())  # the shipped instance, unchanged
    log = work / "processes.log"
    procs = Processes(log)
    token = secrets.token_urlsafe(24)
    instance = None
    t_setup = time.monotonic()
    try:
        sim_port = free_port()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("BV_", "ACE_", "DAGSTER_"))}
        procs.start([sys.executable, str(ROOT / "benchmarks" / "backfill_sim.py"), "--port", str(sim_port),
                     "--sites", str(n_sites), "--points", str(points), "--latency-s", str(latency_s)],
                    {**base_env, "ACE_API_KEY": token})
        sim_admin = f"http://127.0.0.1:{sim_port}/_sim"
        wait_for(lambda: http_ok(f"{sim_admin}/state"), 60, "the simulator", every_s=0.2)
        env = {**base_env, "ACE_API_BASE": f"http://127.0.0.1:{sim_port}/api", "ACE_API_KEY": token,
               "BV_HOME": str(bv_home), "BV_SITES": ",".join(sites), "BV_STORAGE_URL": str(storage_dir),
               "BV_START_DATE": FIRST_DAY.isoformat(), "DAGSTER_HOME": str(home)}
        os.environ.update({k: v for k, v in env.items() if k.startswith(("BV_", "ACE_", "DAGSTER_"))})

        # Sites registered and catalogs fetched before the daemon starts (what sites_sensor does).
        settings = Settings.load({k: v for k, v in env.items() if k.startswith(("BV_", "ACE_API_BASE"))})
        instance = dg.DagsterInstance.from_config(str(home))
        defs = pipeline_defs(settings)
        from bv_assets.partitions import SITE_PARTITIONS_NAME

        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, sites)
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the catalog runs' events, not printed
        for site in sites:
            res = dg.materialize([defs.asset("ace_points")], partition_key=site, instance=instance,
                                 resources=defs.resources, raise_on_error=False, run_config=quiet)
            if not res.success:
                raise RuntimeError(f"ace_points for {site} failed")
        install_signal_handlers()

        bin_dir = Path(sys.executable).parent
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        procs.start([str(bin_dir / "dagster-webserver"), "-w", str(SHIPPED_WORKSPACE), "-h", "127.0.0.1",
                     "-p", str(port)], env)
        wait_for(lambda: http_ok(f"{url}/server_info"), 240, "the Dagster webserver", every_s=0.5)
        stopped = [] if keep_automation else stop_instigators(url)
        if verbose and stopped:
            print(f"    stopped schedules and sensors: {', '.join(stopped)}", flush=True)
        procs.start([str(bin_dir / "dagster-daemon"), "run", "-w", str(SHIPPED_WORKSPACE)], env)
        requests_before = httpx.get(f"{sim_admin}/state", timeout=10).json()["requests"]
        out.setup_s = time.monotonic() - t_setup

        with BackfillClient(url) as client:
            launched = time.time()
            backfill_id = client.launch(sites, day_list[0], day_list[-1], title=f"backfill_bench {n_sites} sites")
            status = wait_for(lambda: (s := client.status(backfill_id)).done and s, timeout_s,
                              f"the backfill of {out.site_days} site-days", every_s=1)
        out.backfill_status = status.status
        out.ace_requests = httpx.get(f"{sim_admin}/state", timeout=10).json()["requests"] - requests_before

        records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        # The runs' end times are written as they finish; wait until none is left unfinished.
        deadline = time.monotonic() + 120
        while any(not r.dagster_run.is_finished for r in records) and time.monotonic() < deadline:
            time.sleep(1)
            records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        out.runs = len(records)
        out.succeeded = sum(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        out.failed = sum(r.dagster_run.status == dg.DagsterRunStatus.FAILURE for r in records)
        ends = [r.end_time for r in records if r.end_time]
        out.wall_s = (max(ends) - launched) if ends else time.time() - launched
        phases = [run_phases(instance, r) for r in records]
        spans = [(p["start"], p["end"]) for p in phases if p.get("start") and p.get("end")]
        if spans:
            out.mean_run_s = sum(e - s for s, e in spans) / len(spans)
            out.max_run_s = max(e - s for s, e in spans)
            out.max_concurrent_runs = max_overlap(spans)
            out.mean_parallel_runs = sum(e - s for s, e in spans) / out.wall_s if out.wall_s else 0.0
        # In progress for the run queue: from leaving the queue (dequeued) to the end.
        active = [(p["dequeued"], p["end"]) for p in phases if p.get("dequeued") and p.get("end")]
        out.max_in_progress = max_overlap(active) if active else 0
        queued = [p["dequeued"] - p["created"] for p in phases if p.get("dequeued")]
        out.mean_queue_s = sum(queued) / len(queued) if queued else 0.0
        startup = [p["start"] - p["dequeued"] for p in phases if p.get("start") and p.get("dequeued")]
        out.mean_startup_s = sum(startup) / len(startup) if startup else 0.0
        out.first_dequeue_s = min((p["dequeued"] for p in phases if p.get("dequeued")), default=launched) - launched
        for r in records:
            if r.dagster_run.status == dg.DagsterRunStatus.FAILURE:
                out.failures.append(f"{r.dagster_run.tags.get('dagster/partition')}: {failure_text(instance, r)}")
        raw_steps, archive_steps = [], []
        for r in records:
            for st in instance.get_run_step_stats(r.dagster_run.run_id):
                if st.start_time and st.end_time:
                    if st.step_key == "raw_site_day":
                        raw_steps.append((st.start_time, st.end_time))
                    elif st.step_key == "archived_site_day":
                        archive_steps.append((st.start_time, st.end_time))
        out.max_concurrent_ace_steps = max_overlap(raw_steps) if raw_steps else 0
        out.mean_raw_step_s = sum(e - s for s, e in raw_steps) / len(raw_steps) if raw_steps else 0.0
        out.mean_archive_step_s = sum(e - s for s, e in archive_steps) / len(archive_steps) if archive_steps else 0.0
        others = instance.get_run_records(dg.RunsFilter(created_after=dg_datetime(launched)))
        out.other_runs = sum(1 for r in others if r.dagster_run.tags.get("dagster/backfill") != backfill_id)

        if out.failed or out.succeeded != out.site_days:
            out.problems.append(f"{out.succeeded} of {out.site_days} runs succeeded, {out.failed} failed"
                                f" ({out.runs} runs; backfill {status.status})")
        if not status.succeeded:
            out.problems.append(f"backfill status {status.status}: {status.per_asset}")

        # Every site-day's archive exists and holds rows (the Parquet footer's row count).
        import pyarrow.parquet as pq

        storage = Storage.from_url(str(storage_dir))
        counts = []
        for site in sites:
            for day in day_list:
                path = storage_dir / archive_key(site, day)
                if not storage.exists(archive_key(site, day)):
                    out.problems.append(f"no archive for {site} {day}")
                    continue
                n = pq.read_metadata(path).num_rows
                counts.append(n)
                if n <= 0:
                    out.problems.append(f"empty archive for {site} {day}")
        out.rows = sum(counts)
        out.min_rows = min(counts) if counts else 0
    except BaseException:
        if log.exists():
            print(log.read_text(errors="replace")[-6000:], file=sys.stderr)
        raise
    finally:
        procs.stop_all(home)
        if instance is not None:
            instance.dispose()
        out.load_after = load_average()
        if keep_work:
            print(f"    work folder kept: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return out


def run_phases(instance, record) -> dict[str, float]:
    """Epoch seconds of a run's phases from its event log: created, dequeued (RUN_STARTING: the
    queue handed it to the run launcher), start (RUN_START: its worker process runs), end."""
    import dagster as dg

    kinds = {dg.DagsterEventType.RUN_STARTING: "dequeued", dg.DagsterEventType.RUN_START: "start",
             dg.DagsterEventType.RUN_SUCCESS: "end", dg.DagsterEventType.RUN_FAILURE: "end"}
    out = {"created": record.create_timestamp.timestamp()}
    for entry in instance.all_logs(record.dagster_run.run_id, of_type=set(kinds)):
        out.setdefault(kinds[entry.dagster_event.event_type], entry.timestamp)
    return out


def failure_text(instance, record) -> str:
    """The first step failure's error (else the run failure's message) of a failed run."""
    import dagster as dg

    for entry in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        err = entry.dagster_event.step_failure_data.error
        text = f"{entry.dagster_event.step_key}: {err.message.strip() if err else entry.message}"
        while err is not None and err.cause is not None:
            err = err.cause
            text += f" <- {err.message.strip()}"
        return " ".join(text.split())[:600]
    for entry in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        return " ".join((entry.message or "").split())[:600]
    return "(no failure event)"


def dg_datetime(epoch: float):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch - 5, tz=timezone.utc)


# --------------------------------------------------------------------------- output
def shipped_limits() -> str:
    from bv_cli.home import SHIPPED_DAGSTER_YAML

    cfg = yaml.safe_load(SHIPPED_DAGSTER_YAML.read_text())
    runs = cfg["concurrency"]["runs"]
    tags = []
    for t in runs.get("tag_concurrency_limits", []):
        per = " per value" if isinstance(t.get("value"), dict) and t["value"].get("applyLimitPerUniqueValue") else ""
        tags.append(f"{t['key']}{per}: {t['limit']}")
    pools = cfg["concurrency"].get("pools", {})
    return (f"pool ace_api (default_limit): {pools.get('default_limit')}, granularity: "
            f"{pools.get('granularity', 'unset (steps claim slots)')}; "
            f"max_concurrent_runs: {runs['max_concurrent_runs']}; "
            f"tag limits: {'; '.join(tags)}; run_retries max {cfg['run_retries']['max_retries']}")


def print_table(outcomes: list[Outcome]) -> None:
    header = (f"{'sites':>5} {'days':>4} {'site-days':>9} {'wall s':>7} {'site-days/min':>13} {'runs ok/failed':>14} "
              f"{'queue s':>7} {'start-up s':>10} {'run s mean/max':>14} {'runs mean/max':>13} "
              f"{'in progress':>11} {'ACE steps':>9} "
              f"{'raw/archive step s':>18} {'ACE req/min':>11} {'rows archived':>13}")
    print(header)
    for o in outcomes:
        print(f"{o.sites:>5} {o.days:>4} {o.site_days:>9} {o.wall_s:>7.1f} {o.per_minute:>13.2f} "
              f"{f'{o.succeeded}/{o.failed}':>14} {o.mean_queue_s:>7.1f} {o.mean_startup_s:>10.1f} "
              f"{f'{o.mean_run_s:.1f}/{o.max_run_s:.1f}':>14} "
              f"{f'{o.mean_parallel_runs:.2f}/{o.max_concurrent_runs}':>13} {o.max_in_progress:>11} "
              f"{o.max_concurrent_ace_steps:>9} "
              f"{f'{o.mean_raw_step_s:.1f}/{o.mean_archive_step_s:.1f}':>18} "
              f"{(o.ace_requests / o.wall_s * 60 if o.wall_s else 0):>11.0f} {o.rows:>13,}")
    print("  queue s: created -> dequeued (RUN_STARTING); start-up s: RUN_STARTING -> RUN_START (run worker process);"
          " run s: RUN_START -> end; runs mean/max: run-seconds / wall, most runs executing at once;"
          " in progress: most runs between dequeued and end; ACE steps: most raw_site_day steps at once")
    for o in outcomes:
        print(f"  {o.sites:>2} sites: backfill {o.backfill_status}; setup {o.setup_s:.0f} s; first run dequeued "
              f"{o.first_dequeue_s:.1f} s after the launch; other runs {o.other_runs}; "
              f"ACE requests {o.ace_requests}; smallest archive {o.min_rows:,} rows; "
              f"load average before {o.load_before}, after {o.load_after}")


def plot(outcomes: list[Outcome], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [o.sites for o in outcomes]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(xs, [o.per_minute for o in outcomes], "o-", color="tab:blue")
    for o in outcomes:
        ax1.annotate(f"{o.per_minute:.1f}", (o.sites, o.per_minute), textcoords="offset points", xytext=(0, 6),
                     ha="center", fontsize=8)
    ax1.set_xscale("log", base=2)
    ax1.set_xticks(xs, [str(x) for x in xs])
    ax1.set_xlabel("sites in the backfill")
    ax1.set_ylabel("site-days per minute")
    ax1.set_ylim(bottom=0)
    ax1.set_title("backfill throughput")
    ax1.grid(alpha=0.3)
    ax2.plot(xs, [o.mean_run_s for o in outcomes], "s-", label="mean run s", color="tab:orange")
    ax2.plot(xs, [o.mean_startup_s for o in outcomes], "v-", label="mean run start-up s", color="tab:red")
    ax2.plot(xs, [o.mean_queue_s for o in outcomes], "^-", label="mean queue wait s", color="tab:gray")
    ax2.set_xscale("log", base=2)
    ax2.set_xticks(xs, [str(x) for x in xs])
    ax2.set_xlabel("sites in the backfill")
    ax2.set_ylabel("seconds")
    ax2.set_ylim(bottom=0)
    ax2b = ax2.twinx()
    ax2b.plot(xs, [o.max_in_progress for o in outcomes], "d--", label="max runs in progress", color="tab:green")
    ax2b.plot(xs, [o.mean_parallel_runs for o in outcomes], "x:", label="mean runs in parallel", color="tab:olive")
    ax2b.set_ylabel("runs at once")
    ax2b.set_ylim(0, max([o.max_concurrent_runs for o in outcomes] + [4]) + 1)
    lines = ax2.get_legend_handles_labels()[0] + ax2b.get_legend_handles_labels()[0]
    labels = ax2.get_legend_handles_labels()[1] + ax2b.get_legend_handles_labels()[1]
    ax2.legend(lines, labels, fontsize=8, loc="upper left")
    ax2.set_title("per run (queue wait, start-up, run) and runs at once")
    ax2.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", default="1,4,16", help="comma-separated site counts (default 1,4,16)")
    parser.add_argument("--days", type=int, default=3, help="UTC days per site, from 2025-06-03 (default 3)")
    parser.add_argument("--points", type=int, default=300, help="points per site, 1 sample a minute (default 300)")
    parser.add_argument("--latency-s", type=float, default=0.5,
                        help="the simulator waits this long before answering each ACE request (default 0.5)")
    parser.add_argument("--keep-automation", action="store_true",
                        help="leave the shipped schedules and sensors running during the backfill")
    parser.add_argument("--png", type=Path, default=ROOT / "benchmarks" / "backfill_curve.png")
    parser.add_argument("--timeout-per-site-day-s", type=float, default=120)
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a run failed or an archive is missing")
    parser.add_argument("--keep-work", action="store_true", help="keep each N's BV_HOME (storage, Dagster home, logs)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    counts = [int(x) for x in args.sites.split(",") if x.strip()]

    install_signal_handlers()
    samples = args.points * 1440
    print("Building Vitals backfill benchmark (issue 12): site-days per minute vs sites, through dagster-daemon")
    print(f"machine: {os.cpu_count()} cores, load average {load_average()}")
    print(f"instance: the shipped bv_cli/shipped/dagster.yaml, unchanged — {shipped_limits()}")
    print(f"ACE: simulator in its own process, {args.points} points/site x 1 sample/min = {samples:,} samples a "
          f"site-day (the reference site is 4,583 points); latency {args.latency_s} s per request (simulator slow_s; "
          f"it has no requests/min quota); client pacing as shipped: 600 requests/min, 4 in flight per step, "
          f"page_size 50,000")
    print(f"backfill: raw_site_day + archived_site_day (+ blocking checks), one run per site-day, {args.days} days "
          f"from {FIRST_DAY} x N sites; schedules and sensors "
          f"{'running as shipped' if args.keep_automation else 'stopped (backfill runs only)'}")
    print(flush=True)
    outcomes = []
    for n in counts:
        print(f"  {n} sites x {args.days} days ...", flush=True)
        o = run_one(n, args.days, args.points, args.latency_s, args.keep_automation,
                    timeout_s=300 + args.timeout_per_site_day_s * n * args.days, verbose=args.verbose,
                    keep_work=args.keep_work)
        print(f"    {o.site_days} site-days in {o.wall_s:.1f} s = {o.per_minute:.2f} site-days/min; "
              f"{o.succeeded} ok, {o.failed} failed; load average {o.load_after}", flush=True)
        outcomes.append(o)
    print()
    print_table(outcomes)
    title = (f"backfill through dagster-daemon, shipped limits; {args.points} points/site, {args.days} days, "
             f"ACE latency {args.latency_s} s; {os.cpu_count()} cores, load avg {load_average()}")
    plot(outcomes, args.png, title)
    print(f"\ncurve written to {args.png.relative_to(ROOT) if args.png.is_relative_to(ROOT) else args.png}")
    for o in outcomes:
        for f in o.failures:
            print(f"  {o.sites:>2} sites: failed run {f}")
    problems = [f"{o.sites} sites: {p}" for o in outcomes for p in o.problems]
    for p in problems:
        print(f"PROBLEM {p}")
    print(f"load average at the end: {load_average()} on {os.cpu_count()} cores")
    if problems:
        print("FAIL: a run failed or an archive is missing or empty")
        return 0 if args.no_fail else 2
    print(f"every run succeeded; {sum(o.site_days for o in outcomes)} archives, each with rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
