"""Load and soak benchmark: mixed queries against `bv serve --workers 2`, the server's RSS over
time, and a 100-point x 365-day raw CSV export streamed through it (issue 11, item 7).

    .venv/bin/python benchmarks/soak_bench.py [--minutes 10] [--connections 16,64] [--store PATH]
                                              [--port N] [--no-fail] [--build-only]

Data: a store of --points (default 200) points x 365 distinct days of 1-minute samples
generated with numpy (point_health_bench's generator: BMS-like signals, scrape jitter),
written with the archive's own writer through `publish`, a catalog, and the 12 monthly hourly
rollups built by `build_month_rollup`. Built once under /work/bench-data/soak (kept); --store
points at any other store of one site with a catalog (e.g. /work/bench-data/year).

Load: `bv serve --workers 2` as a real process (uvicorn master + 2 workers). The load
generator is a separate Python process (asyncio + httpx, one keep-alive connection per
coroutine) driving, round-robin per connection, with random distinct points and windows:
  raw_day     1 point x 1 UTC day, raw, JSON
  hourly_30d  5 points x 30 days at 1 h (window starts at a random hour: rollups + 2 edge days)
  daily_365d  1 point x 365 days at 1 d
  csv_day     10 points x 1 UTC day, raw, CSV (streamed export)
  search      GET /sites/{site}/points?q=<word>
at each --connections value for --minutes each. An error is a transport error, a non-2xx
answer or an answer without its rows. The server's RSS (master + workers, psutil) is sampled
every second; its bound is workers x (BASE_WORKER_MB + BV_QUERY_CACHE_MB + BV_QUERY_MEMORY_MB)
+ BASE_MASTER_MB.

Export: 100 points x 365 days raw as CSV (52.6 M rows, ~4 GB) streamed to a client process
that counts bytes and rows on the fly (keeping a few sampled rows); rows must equal DuckDB's
count over the archive files, the sampled rows must be in the archive with the same value,
and timestamps must not go backwards; the server's RSS must stay under the same bound.

Prints a table and writes benchmarks/out/soak.json (docs/reliability.md is rendered from it).
Exit 1 when a target is missed (errors, RSS bound, export content), unless --no-fail.

(One file over 400 lines on purpose: the store, the server, both client processes and the
report stay together so a reader checks the whole method in one place.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))  # the launchers the suite uses: tests/support

DEFAULT_STORE = Path("/work/bench-data/soak")
OUT = ROOT / "benchmarks" / "out" / "soak.json"
YEAR_START = date(2025, 1, 1)
YEAR_DAYS = 365
WORKERS = 2
# The part of the bound no setting controls. Measured 2026-12-02: the uvicorn master 128 MB
# plus multiprocessing's resource tracker 12 MB; a worker 136 MB idle after imports (FastAPI,
# pyarrow, DuckDB), ~240 MB after its first answers; the rest is headroom for thread stacks
# and answers in flight.
BASE_WORKER_MB = 300
BASE_MASTER_MB = 150
KINDS = ("raw_day", "hourly_30d", "daily_365d", "csv_day", "search")
SEARCH_WORDS = ("vav", "temp", "damper", "airflow", "occupancy", "setpoint", "reheat", "discharge",
                "analoginput", "vav-001", "vav 2 temp", "zone temp", "offset")
DAY = timedelta(days=1)


# ---------------------------------------------------------------- data
def build_store(root: Path, n_points: int) -> None:
    """365 distinct generated days + catalog + 12 rollups; days already written are kept."""
    from point_health_bench import SITE, day_table, point_table, write_catalog, write_day

    import numpy as np

    from bv_pipeline.rollup_build import build_month_rollup
    from bv_store.layout import archive_key, points_key, rollup_key
    from bv_store.storage import LocalStorage

    storage = LocalStorage(root)
    rows = point_table(n_points)
    version = write_catalog(storage, rows) if not (root / points_key(SITE)).is_file() else None
    if version is None:
        from bv_store.catalog import snapshot_catalog

        version = snapshot_catalog(storage, SITE)[1]
    began = time.perf_counter()
    written = 0
    for k in range(YEAR_DAYS):
        day = YEAR_START + timedelta(days=k)
        if (root / archive_key(SITE, day)).is_file():
            continue
        rng = np.random.default_rng(1000 + k)  # per day: a resumed build writes the same days
        write_day(storage, day_table(rows, day, 1440, rng, faults=False), day, version)
        written += 1
        if written % 30 == 0:
            print(f"  {written} days written ({time.perf_counter() - began:.0f} s)", flush=True)
    months = sorted({(YEAR_START + timedelta(days=k)).strftime("%Y-%m") for k in range(YEAR_DAYS)})
    for month in months:
        if written or not (root / rollup_key(SITE, month)).is_file():
            build_month_rollup(storage, SITE, month)
    print(f"store {root}: {n_points} points x {YEAR_DAYS} distinct generated days "
          f"({written} written now, {time.perf_counter() - began:.0f} s), {len(months)} rollups", flush=True)


def describe_store(root: Path) -> dict:
    """site, points, archived days, rollup months and sizes of the store at `root`."""
    import pyarrow.parquet as pq

    from bv_store.layout import parse_archive_key, parse_rollup_key, points_key
    from bv_store.storage import LocalStorage

    storage = LocalStorage(root)
    days: dict[str, list[date]] = {}
    archive_bytes = 0
    for key, size in storage.list_sizes("archive/").items():
        parsed = parse_archive_key(key)
        if parsed:
            days.setdefault(parsed.site, []).append(parsed.day)
            archive_bytes += size
    if len(days) != 1:
        raise SystemExit(f"soak_bench: {root} must hold exactly one archived site, found {sorted(days) or 'none'}")
    site, site_days = next(iter(days.items()))
    site_days.sort()
    months = [parse_rollup_key(k).month for k in storage.list_sizes("rollup/") if parse_rollup_key(k)]
    catalog = root / points_key(site)
    if not catalog.is_file():
        raise SystemExit(f"soak_bench: {root} has no point catalog for {site} ({catalog})")
    points = sorted(pq.read_table(catalog, columns=["name"]).column("name").to_pylist())
    inodes = {os.stat(root / storage_key).st_ino for storage_key in storage.list_sizes("archive/")}
    return {"root": str(root), "site": site, "points": points, "days": site_days, "rollup_months": sorted(months),
            "archive_bytes": archive_bytes, "distinct_files": len(inodes)}


# ---------------------------------------------------------------- server
def server_env(store: Path, home: Path, args) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BV_")}
    env.update(BV_STORAGE_URL=str(store), BV_HOME=str(home))
    if args.cache_mb is not None:
        env["BV_QUERY_CACHE_MB"] = str(args.cache_mb)
    if args.memory_mb is not None:
        env["BV_QUERY_MEMORY_MB"] = str(args.memory_mb)
    return env


def start_server(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    import httpx

    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bv_cli.main", "serve", "--port", str(port), "--workers", str(WORKERS),
         "--no-access-log", "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"soak_bench: bv serve exited with {proc.returncode}; log:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"soak_bench: bv serve on port {port} did not answer /health within 60 s; log {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class RssSampler(threading.Thread):
    """Every second: the summed RSS (MB) of the server process and all its descendants."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(pid)
        self.samples: list[tuple[float, str, float, int]] = []  # (t, phase, MB, processes)
        self.phase = "idle"
        self._halt = threading.Event()
        self.t0 = time.monotonic()

    def read(self) -> tuple[float, int]:
        import psutil

        total, count = 0, 0
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
                count += 1
            except psutil.NoSuchProcess:
                pass
        return total / 2**20, count

    def run(self) -> None:
        while not self._halt.is_set():
            mb, count = self.read()
            self.samples.append((time.monotonic() - self.t0, self.phase, mb, count))
            self._halt.wait(1.0)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def of(self, phase: str) -> list[tuple[float, float]]:
        return [(t, mb) for t, p, mb, _ in self.samples if p == phase]


def rss_summary(samples: list[tuple[float, float]]) -> dict:
    if not samples:
        return {"start_mb": None, "max_mb": None, "end_mb": None, "per_minute_mb": [], "samples": 0}
    t0 = samples[0][0]
    per_minute: dict[int, float] = {}
    for t, mb in samples:
        minute = int((t - t0) // 60)
        per_minute[minute] = max(per_minute.get(minute, 0.0), mb)
    return {"start_mb": round(samples[0][1], 1), "max_mb": round(max(mb for _, mb in samples), 1),
            "end_mb": round(samples[-1][1], 1), "per_minute_mb": [round(per_minute[m], 1) for m in sorted(per_minute)],
            "samples": len(samples)}


# ---------------------------------------------------------------- load generator (its own process)
def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def request_for(kind: str, rng: random.Random, cfg: dict) -> tuple[str, list, int]:
    """(path, params, minimum rows an answer must carry) of one request of `kind`."""
    site, points = cfg["site"], cfg["points"]
    first, n_days = date.fromisoformat(cfg["first_day"]), cfg["n_days"]
    if kind == "search":
        return f"/sites/{site}/points", [("q", rng.choice(SEARCH_WORDS))], 1
    if kind in ("raw_day", "csv_day"):
        day = first + timedelta(days=rng.randrange(n_days))
        chosen = rng.sample(points, 1 if kind == "raw_day" else 10)
        start, end = _day_start(day), _day_start(day + DAY)
        params = [("interval", "raw")] + ([("format", "csv")] if kind == "csv_day" else [])
    elif kind == "hourly_30d":
        chosen = rng.sample(points, 5)
        start = _day_start(first + timedelta(days=rng.randrange(n_days - 30))) + timedelta(hours=rng.randrange(24))
        end = start + timedelta(days=30)
        params = [("interval", "1h")]
    else:  # daily_365d: the window may run past the last day (those days are gaps, nulls)
        chosen = rng.sample(points, 1)
        start = _day_start(first + timedelta(days=rng.randrange(31)))
        end = start + timedelta(days=365)
        params = [("interval", "1d")]
    params += [("site_name", site), ("start_time", str(_ms(start))), ("end_time", str(_ms(end)))]
    params += [("point", p) for p in chosen]
    return "/timeseries/query", params, len(chosen)


def answer_rows(kind: str, response) -> int:
    if kind == "search":
        return response.json()["total"]
    if kind == "csv_day":
        return response.content.count(b"\n") - 1
    import orjson

    return len(orjson.loads(response.content)["samples"])


async def _load(cfg: dict) -> dict:
    import httpx

    n = cfg["connections"]
    stats = {k: {"latencies_ms": [], "errors": 0, "bytes": 0, "error_examples": []} for k in KINDS}
    loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=cfg["base_url"], limits=limits, timeout=httpx.Timeout(120.0)) as client:
        deadline = loop.time() + cfg["seconds"]

        async def worker(i: int) -> None:
            rng = random.Random(cfg["seed"] * 1000 + i)
            k = i
            while loop.time() < deadline:
                kind = KINDS[k % len(KINDS)]
                k += 1
                path, params, min_rows = request_for(kind, rng, cfg)
                began = time.perf_counter()
                problem = None
                try:
                    response = await client.get(path, params=params)
                    if response.status_code != 200:
                        problem = f"HTTP {response.status_code}: {response.text[:200]}"
                    elif answer_rows(kind, response) < min_rows:
                        problem = f"answer without rows: {response.text[:200]}"
                    stats[kind]["bytes"] += len(response.content)
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = (time.perf_counter() - began) * 1000
                if problem:
                    stats[kind]["errors"] += 1
                    if len(stats[kind]["error_examples"]) < 3:
                        stats[kind]["error_examples"].append(f"{path} {params[:3]}: {problem}")
                else:
                    stats[kind]["latencies_ms"].append(elapsed)

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(n)))
        wall = time.perf_counter() - began
    return {"wall_s": wall, "kinds": stats}


def run_loadgen(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    print(json.dumps(asyncio.run(_load(cfg))))


def summarize_load(raw: dict, connections: int) -> dict:
    import numpy as np

    kinds, total, errors = {}, 0, 0
    for kind, s in raw["kinds"].items():
        lat = np.array(s["latencies_ms"]) if s["latencies_ms"] else np.array([np.nan])
        count = len(s["latencies_ms"]) + s["errors"]
        total += count
        errors += s["errors"]
        kinds[kind] = {"requests": count, "errors": s["errors"], "p50_ms": round(float(np.percentile(lat, 50)), 1),
                       "p99_ms": round(float(np.percentile(lat, 99)), 1), "max_ms": round(float(np.max(lat)), 1),
                       "mb": round(s["bytes"] / 2**20, 1), "error_examples": s["error_examples"]}
    return {"connections": connections, "wall_s": round(raw["wall_s"], 1), "requests": total, "errors": errors,
            "req_per_s": round(total / raw["wall_s"], 1), "kinds": kinds}


# ---------------------------------------------------------------- export client (its own process)
def run_export_client(config_path: str) -> None:
    """Stream the export; count bytes and rows; keep only the rows at the asked indices."""
    import httpx

    cfg = json.loads(Path(config_path).read_text())
    wanted = sorted(cfg["sample_rows"])  # data row numbers, 0-based (the header is not a row)
    kept: dict[int, str] = {}
    lines = 0  # complete lines seen, header included
    n_bytes = 0
    tail = b""
    last_ts = ""
    backwards = 0
    began = time.perf_counter()
    first_byte_s = None
    status, error = None, None
    try:
        with httpx.stream("GET", cfg["url"], params=cfg["params"], timeout=httpx.Timeout(300.0)) as response:
            status = response.status_code
            if status != 200:
                response.read()
                error = f"HTTP {status}: {response.text[:300]}"
            else:
                for chunk in response.iter_raw():
                    if first_byte_s is None:
                        first_byte_s = time.perf_counter() - began
                    n_bytes += len(chunk)
                    count = chunk.count(b"\n")
                    if count:
                        data = tail + chunk
                        end = data.rfind(b"\n")
                        # rows in this chunk: lines lines .. lines+count-1 (line i is data row i-1)
                        if wanted and wanted[0] + 1 < lines + count:
                            parts = data[:end].split(b"\n")
                            while wanted and wanted[0] + 1 < lines + count:
                                row = wanted.pop(0)
                                kept[row] = parts[row + 1 - lines].decode()
                        last = data[data.rfind(b"\n", 0, end) + 1:end].decode()
                        if lines + count > 1:
                            ts = last.rsplit(",", 2)[-2].strip('"')
                            if ts < last_ts:
                                backwards += 1
                            last_ts = ts
                        tail = data[end + 1:]
                        lines += count
                    else:
                        tail += chunk
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"status": status, "error": error, "bytes": n_bytes, "rows": max(lines - 1, 0),
                      "unterminated_tail_bytes": len(tail), "seconds": time.perf_counter() - began,
                      "first_byte_s": first_byte_s, "sampled": {str(k): v for k, v in kept.items()},
                      "chunk_order_backwards": backwards}))


def expected_export(store: dict, points: list[str]) -> int:
    import duckdb

    from bv_store.layout import archive_key

    files = [str(Path(store["root"]) / archive_key(store["site"], d)) for d in store["days"]]
    con = duckdb.connect()
    try:
        return con.execute("SELECT count(*) FROM read_parquet($f) WHERE point IN (SELECT unnest($p))",
                           {"f": files, "p": points}).fetchone()[0]
    finally:
        con.close()


def check_sampled_rows(store: dict, points: set, sampled: dict) -> list[str]:
    """Each sampled CSV row must be a stored (point, ts, value) of an asked point."""
    import csv
    import io

    import duckdb

    from bv_store.layout import archive_key

    problems = []
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    try:
        for row_number, line in sorted(sampled.items(), key=lambda kv: int(kv[0])):
            point, ts_text, value_text = next(csv.reader(io.StringIO(line)))
            ts = datetime.fromisoformat(ts_text.replace("Z", "+00:00"))
            path = Path(store["root"]) / archive_key(store["site"], ts.date())
            stored = con.execute("SELECT value FROM read_parquet($f) WHERE point = $p AND ts = $t",
                                 {"f": str(path), "p": point, "t": ts}).fetchall()
            if point not in points:
                problems.append(f"row {row_number}: point {point!r} was not asked")
            elif len(stored) != 1:
                problems.append(f"row {row_number}: {point} at {ts_text}: {len(stored)} stored rows")
            elif not (value_text == "" and stored[0][0] is None) and abs(float(value_text) - stored[0][0]) > 1e-9 * max(1.0, abs(stored[0][0])):
                problems.append(f"row {row_number}: {point} at {ts_text}: CSV {value_text}, stored {stored[0][0]}")
    finally:
        con.close()
    return problems


# ---------------------------------------------------------------- main
def child(mode: str, cfg: dict, work: Path) -> dict:
    path = work / f"{mode}-{time.time_ns()}.json"
    path.write_text(json.dumps(cfg))
    out = subprocess.run([sys.executable, __file__, f"--_{mode}", str(path)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"soak_bench: the {mode} process failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm_up(base_url: str, cfg: dict) -> None:
    """One request of each kind; a failure here stops the run before the long phases."""
    import httpx

    rng = random.Random(7)
    for kind in KINDS:
        path, params, min_rows = request_for(kind, rng, cfg)
        response = httpx.get(base_url + path, params=params, timeout=120)
        if response.status_code != 200 or answer_rows(kind, response) < min_rows:
            raise SystemExit(f"soak_bench: warm-up {kind} failed: HTTP {response.status_code} {response.text[:300]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of load per connection count")
    parser.add_argument("--connections", default="16,64", help="comma-separated connection counts, run in order")
    parser.add_argument("--store", type=Path, default=None, help=f"store to serve (default: built at {DEFAULT_STORE})")
    parser.add_argument("--points", type=int, default=200, help="points of a store this script builds")
    parser.add_argument("--port", type=int, default=None, help="port of bv serve (default: a free one)")
    parser.add_argument("--cache-mb", type=float, default=None, help="BV_QUERY_CACHE_MB for the server (default: its setting)")
    parser.add_argument("--memory-mb", type=float, default=None, help="BV_QUERY_MEMORY_MB for the server (default: its setting)")
    parser.add_argument("--export-points", type=int, default=100)
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--build-only", action="store_true", help="build the store and stop")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a target is missed")
    parser.add_argument("--_loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--_export", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._loadgen:
        run_loadgen(args._loadgen)
        return 0
    if args._export:
        run_export_client(args._export)
        return 0

    from support.ports import free_port

    import psutil

    from bv_config.settings import Settings

    store_root = args.store or DEFAULT_STORE
    if (store_root / "storage" / "archive").is_dir():  # a year_data.py work folder: its store
        store_root = store_root / "storage"
    if args.store is None:
        build_store(store_root, args.points)
    if args.build_only:
        return 0
    printed: list[str] = []

    def say(text: str) -> None:  # the table, printed and kept for docs/reliability.md
        print(text)
        printed.extend(text.split("\n"))

    store = describe_store(store_root)
    copies = len(store["days"]) - store["distinct_files"]
    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bv-soak-"))
    env = server_env(store_root, work / "home", args)
    settings = Settings.load(env)
    cache_mb = settings.query_cache_mb
    memory_mb = settings.query_memory_mb or psutil.virtual_memory().total * 0.8 / 2**20
    limit_mb = WORKERS * (BASE_WORKER_MB + cache_mb + memory_mb) + BASE_MASTER_MB
    port = args.port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    say(f"store {store['root']}: site {store['site']}, {len(store['points'])} points, {len(store['days'])} days "
        f"({store['days'][0]} .. {store['days'][-1]}), {len(store['rollup_months'])} rollups, "
        f"{store['archive_bytes'] / 2**20:.0f} MB archive"
        + (f"; {copies} days are hard-linked copies" if copies else "; every day a distinct file"))
    say(f"limits in effect: BV_QUERY_CACHE_MB={cache_mb:g} ({settings.sources['query_cache_mb']}), "
        f"BV_QUERY_MEMORY_MB={settings.query_memory_mb:g} ({settings.sources['query_memory_mb']}) per worker"
        + ("" if settings.query_memory_mb else f" (0: DuckDB's default, 80% of RAM = {memory_mb:.0f} MB)")
        + f"; RSS bound {WORKERS} x ({BASE_WORKER_MB} base + {cache_mb:g} cache + {memory_mb:g} DuckDB) + "
        f"{BASE_MASTER_MB} master = {limit_mb:g} MB")
    say(f"machine: {os.cpu_count()} cores, load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")

    cfg_base = {"base_url": base_url, "site": store["site"], "points": store["points"],
                "first_day": store["days"][0].isoformat(), "n_days": len(store["days"])}
    server = start_server(env, port, work / "server.log")
    sampler = RssSampler(server.pid)
    sampler.start()
    phases, export = [], None
    try:
        warm_up(base_url, cfg_base)
        time.sleep(1.5)
        idle_mb = sampler.read()[0]
        say(f"bv serve --workers {WORKERS} on port {port}: RSS after warm-up {idle_mb:.0f} MB "
            f"({sampler.read()[1]} processes: master, workers, multiprocessing helper)")
        say("load generator: its own process, asyncio + httpx, one keep-alive connection per coroutine, kinds "
            "round-robin: raw_day 1 pt x 1 d raw JSON, hourly_30d 5 pts x 30 d at 1 h, daily_365d 1 pt x 365 d "
            "at 1 d, csv_day 10 pts x 1 d raw CSV, search points?q=<word>; random points and windows")
        for seed, n in enumerate(int(c) for c in args.connections.split(",")):
            print(f"load: {n} connections for {args.minutes:g} min ...", flush=True)
            sampler.phase = f"load{n}"
            raw = child("loadgen", {**cfg_base, "connections": n, "seconds": args.minutes * 60, "seed": seed + 1}, work)
            phase = summarize_load(raw, n)
            phase["rss"] = rss_summary(sampler.of(f"load{n}"))
            phases.append(phase)
            print(f"  {phase['requests']:,} requests, {phase['errors']} errors, {phase['req_per_s']:.0f} req/s, "
                f"RSS max {phase['rss']['max_mb']} MB", flush=True)
        if not args.skip_export:
            export = run_export(store, base_url, sampler, work, args.export_points)
    finally:
        sampler.phase = "stopping"
        stop_server(server)
        sampler.stop()
    load_end = os.getloadavg()

    ok = True
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine_cores": os.cpu_count(),
              "load_average_start": [round(x, 2) for x in load_start], "load_average_end": [round(x, 2) for x in load_end],
              "store": {"root": store["root"], "site": store["site"], "points": len(store["points"]),
                        "days": len(store["days"]), "first_day": store["days"][0].isoformat(),
                        "last_day": store["days"][-1].isoformat(), "rollup_months": len(store["rollup_months"]),
                        "archive_mb": round(store["archive_bytes"] / 2**20, 1), "hard_linked_days": copies},
              "server": {"command": f"bv serve --workers {WORKERS}", "cache_mb": cache_mb, "duckdb_memory_mb": memory_mb,
                         "base_worker_mb": BASE_WORKER_MB, "base_master_mb": BASE_MASTER_MB, "rss_limit_mb": limit_mb,
                         "rss_after_warm_up_mb": round(idle_mb, 1)},
              "minutes_per_phase": args.minutes, "phases": phases, "export": export}
    say(f"\nBuilding Vitals soak — bv serve --workers {WORKERS}, {store['site']}: {len(store['points'])} points x "
        f"{len(store['days'])} days; {args.minutes:g} min per phase; RSS bound {limit_mb:g} MB")
    say(f"{'connections':>11} {'kind':12}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for phase in phases:
        for kind, s in phase["kinds"].items():
            say(f"{phase['connections']:>11} {kind:12}{s['requests']:>10,}{s['errors']:>8}{s['p50_ms']:>9.1f}"
                f"{s['p99_ms']:>9.1f}{s['max_ms']:>9.1f}")
            for example in s["error_examples"]:
                say(f"{'':12}  error: {example}")
        rss = phase["rss"]
        bounded = rss["max_mb"] is not None and rss["max_mb"] <= limit_mb
        clean = phase["errors"] == 0
        ok &= bounded and clean
        phase["pass"] = bounded and clean
        say(f"{phase['connections']:>11} {'all':12}{phase['requests']:>10,}{phase['errors']:>8}   "
            f"{phase['req_per_s']:.1f} req/s over {phase['wall_s']:.0f} s   errors {'PASS' if clean else 'FAIL'}")
        say(f"{'':12}RSS MB start {rss['start_mb']}, max {rss['max_mb']}, end {rss['end_mb']} "
            f"(bound {limit_mb:g}: {'PASS' if bounded else 'FAIL'}); per-minute max {rss['per_minute_mb']}")
    if export is not None:
        e = export
        say(f"\nexport: {e['points']} points x {e['days']} days raw CSV, streamed: {e['rows']:,} rows "
            f"(expected {e['expected_rows']:,}), {e['bytes'] / 2**30:.2f} GiB in {e['seconds']:.1f} s "
            f"({e['mb_per_s']:.0f} MB/s, {e['rows_per_s']:,.0f} rows/s), first byte after {e['first_byte_s']} s")
        say(f"  RSS MB start {e['rss']['start_mb']}, max {e['rss']['max_mb']} (+{e['rss']['max_mb'] - e['rss']['start_mb']:.0f} "
            f"during the export), end {e['rss']['end_mb']} (bound {limit_mb:g}); per-minute max {e['rss']['per_minute_mb']}")
        say(f"  sampled rows checked against the archive: {len(e['sampled'])}, problems: {e['problems'] or 'none'}")
        e["pass"] = (e["error"] is None and e["rows"] == e["expected_rows"] and not e["problems"]
                     and e["rss"]["max_mb"] is not None and e["rss"]["max_mb"] <= limit_mb)
        ok &= e["pass"]
        say(f"  export {'PASS' if e['pass'] else 'FAIL'}" + (f": {e['error']}" if e["error"] else ""))
    say(f"\nload average at the end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} on {os.cpu_count()} cores")
    report["pass"] = ok
    report["printed"] = "\n".join(printed).strip("\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures written to {args.out}")
    print("targets met" if ok else "TARGETS MISSED (see FAIL above)")
    return 0 if ok or args.no_fail else 1


def run_export(store: dict, base_url: str, sampler: RssSampler, work: Path, n_points: int) -> dict:
    points = store["points"][:: max(1, len(store["points"]) // n_points)][:n_points]
    print(f"export: counting the expected rows of {len(points)} points x {len(store['days'])} days (DuckDB) ...", flush=True)
    expected = expected_export(store, points)
    rng = random.Random(11)
    wanted = sorted(rng.sample(range(expected), min(25, expected))) if expected else []
    start, end = _day_start(store["days"][0]), _day_start(store["days"][-1] + DAY)
    params = [("site_name", store["site"]), ("start_time", str(_ms(start))), ("end_time", str(_ms(end))),
              ("format", "csv")] + [("point", p) for p in points]
    print(f"export: streaming {expected:,} rows ...", flush=True)
    sampler.phase = "export"
    got = child("export", {"url": base_url + "/timeseries/query", "params": params, "sample_rows": wanted}, work)
    time.sleep(1.5)  # one more RSS sample after the stream ended
    sampler.phase = "after"
    problems = check_sampled_rows(store, set(points), got["sampled"])
    if len(got["sampled"]) != len(wanted):
        problems.append(f"{len(got['sampled'])} of {len(wanted)} sampled rows arrived")
    if got["chunk_order_backwards"]:
        problems.append(f"timestamps went backwards at {got['chunk_order_backwards']} chunk ends")
    if got["unterminated_tail_bytes"]:
        problems.append(f"{got['unterminated_tail_bytes']} bytes after the last newline")
    seconds = got["seconds"]
    return {"points": len(points), "days": len(store["days"]), "expected_rows": expected, "rows": got["rows"],
            "bytes": got["bytes"], "seconds": round(seconds, 1), "first_byte_s": round(got["first_byte_s"] or -1, 3),
            "mb_per_s": got["bytes"] / 2**20 / seconds if seconds else 0.0, "rows_per_s": got["rows"] / seconds if seconds else 0.0,
            "error": got["error"], "sampled": got["sampled"], "problems": problems,
            "rss": rss_summary(sampler.of("export") + sampler.of("after"))}


if __name__ == "__main__":
    sys.exit(main())
