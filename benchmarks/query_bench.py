"""Query benchmark: the query layer on a reference-size site, side by side with the peers.

(One file over 400 lines on purpose: data set-up, every peer and the printed table stay
together so a reader checks the whole method in one place.)

    .venv/bin/python benchmarks/query_bench.py [--work DIR] [--peer-days 2] [--repeat 20]

Data: one real reference day (4,583 points x 1 min, from the simulator through the pipeline;
reused from --work when present) becomes 31 real archived days (its rows shifted day by day,
written with the archive's own writer) and 334 more days of hard links, for a year. The
hard-linked days carry their source day's timestamps, so their hourly rollups are built by
shifting the source day's hourly aggregates to each day (what `build_month_rollup` would
write for real data), recorded against the hard links' sizes so the engine uses them.

Queries (local storage, warm unless said; median and p95 of --repeat runs):
  A  1 point x 24 h raw            target <= 10 ms
  B  5 points x 30 d at 1 h avg    target <= 50 ms
  C  1 point x 365 d at 1 h avg    target <= 100 ms
  D  HTTP: A through `bv serve` with 16 concurrent clients (wrk, or Python threads)  >= 200 req/s
Peers, same queries and data: (a) the original Worker's Parquet layout (one file per day;
timestamp ms, point_name, value, site_name; snappy; 10k-row groups; API order) read by
DuckDB; (b) SQLite shaped like the original hot tier; (c) PostgreSQL 15 with the schema the
original project moved to. Loading 2.4 B rows into (b)/(c) is not feasible here: they hold
--peer-days full days of the site plus the queried points for the whole year.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))  # the launchers the suite uses: tests/support

from support.ports import free_port  # noqa: E402
from support.postgres import PgServer, start_postgres  # noqa: E402

import duckdb  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

SITE = "ref_site"
SOURCE_DAY = date(2025, 6, 3)
REAL_DAYS = [date(2025, 5, 1) + timedelta(days=i) for i in range(31)]  # May 2025
YEAR_END = date(2025, 6, 1)  # C covers [2024-06-01, 2025-06-01)
YEAR_START = YEAR_END - timedelta(days=365)
DAY_US = 86_400_000_000


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(median ms, p95 ms, last result) of `repeat` calls after one warm-up."""
    out = fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))], out


# ---------------------------------------------------------------- data
def ensure_reference_day(work: Path) -> Path:
    """storage root holding the source day's archive, raw and catalog (built when missing)."""
    from bv_store.layout import archive_key

    storage = work / "storage"
    if (storage / archive_key(SITE, SOURCE_DAY)).is_file():
        return storage
    print("building the reference day through the pipeline (simulator + Dagster) ...", flush=True)
    import secrets

    from ingest_site_day import start_sim

    token = secrets.token_urlsafe(24)
    sim, api_base = start_sim(4583, token)
    try:
        env = {**os.environ, "ACE_API_BASE": api_base, "ACE_API_KEY": token, "BV_SITES": SITE,
               "BV_STORAGE_URL": str(storage), "BV_HOME": str(work), "BV_START_DATE": "2024-01-01"}
        subprocess.run([sys.executable, "-m", "bv_cli.main", "materialize", "--sites", SITE,
                        "--start", SOURCE_DAY.isoformat()], env=env, check=True, cwd=ROOT)
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    return storage


def shift(table: pa.Table, days: int) -> pa.Table:
    ts = pc.add(table.column("ts").cast(pa.int64()), days * DAY_US).cast(pa.timestamp("us", tz="UTC"))
    return table.set_column(table.schema.get_field_index("ts"), "ts", ts)


def build_year(storage: Path) -> dict:
    """31 real days, 334 hard-linked days, monthly rollups; returns sizes for the report."""
    from bv_pipeline.archive_build import write_archive_file
    from bv_store.layout import archive_key, rollup_key
    from bv_pipeline.rollup_build import ROLLUP_DAYS_META, ROLLUP_ROW_GROUP_ROWS, build_month_rollup
    from bv_store.storage import Storage

    store = Storage.from_url(str(storage))
    source = storage / archive_key(SITE, SOURCE_DAY)
    table = None
    for day in REAL_DAYS:
        path = storage / archive_key(SITE, day)
        if not path.is_file():
            table = table if table is not None else pq.read_table(source)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_archive_file(shift(table, (day - SOURCE_DAY).days), path)
            print(f"  archived {day} (shifted copy of {SOURCE_DAY})", flush=True)
    if not (storage / rollup_key(SITE, "2025-05")).is_file():
        build_month_rollup(store, SITE, "2025-05")
    # Hard-linked days: the file of REAL_DAYS[0], and hourly aggregates of the source day shifted.
    link_from = storage / archive_key(SITE, REAL_DAYS[0])
    day = YEAR_START
    while day < REAL_DAYS[0]:
        path = storage / archive_key(SITE, day)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(link_from, path)
        day += timedelta(days=1)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    hourly = con.execute(
        f"""SELECT point::VARCHAR AS point, time_bucket(INTERVAL '1 hour', ts) AS hour, count(*) AS "count",
            sum(value) AS "sum", min(value) AS "min", max(value) AS "max", arg_min(value, ts) AS "first",
            arg_max(value, ts) AS "last" FROM read_parquet('{source}') GROUP BY ALL"""
    ).to_arrow_table()
    month = YEAR_START.replace(day=1)
    while month < REAL_DAYS[0]:
        key = rollup_key(SITE, month.strftime("%Y-%m"))
        if not (storage / key).is_file():
            days, parts = {}, []
            d = month
            while d.month == month.month:
                if d >= YEAR_START:
                    days[d.isoformat()] = link_from.stat().st_size
                    moved = hourly.set_column(1, "hour", pc.add(hourly.column("hour").cast(pa.int64()),
                                                                (d - SOURCE_DAY).days * DAY_US).cast(pa.timestamp("us", tz="UTC")))
                    parts.append(moved)
                d += timedelta(days=1)
            con.register("month_rows", pa.concat_tables(parts))
            (storage / key).parent.mkdir(parents=True, exist_ok=True)
            meta = orjson.dumps(days).decode()
            con.execute(
                f"COPY (SELECT * FROM month_rows ORDER BY point, hour) TO '{storage / key}' (FORMAT parquet, "
                f"COMPRESSION zstd, ROW_GROUP_SIZE {ROLLUP_ROW_GROUP_ROWS}, KV_METADATA {{{ROLLUP_DAYS_META}: '{meta}'}})"
            )
            con.unregister("month_rows")
            print(f"  rollup {month:%Y-%m} ({len(days)} hard-linked days)", flush=True)
        month = (month + timedelta(days=32)).replace(day=1)
    con.close()
    rows = pq.ParquetFile(source).metadata.num_rows
    return {"rows_per_day": rows, "archive_bytes": source.stat().st_size,
            "rollup_bytes": (storage / rollup_key(SITE, "2025-05")).stat().st_size}


def pick_points(storage: Path) -> list[str]:
    from bv_store.layout import points_key

    names = pq.read_table(storage / points_key(SITE), columns=["name"]).column("name").to_pylist()
    temps = [n for n in names if n.endswith("/analogInput/1")]
    return temps[:6] if len(temps) >= 6 else names[:6]


# ---------------------------------------------------------------- peers
def write_original_days(storage: Path, work: Path) -> Path:
    """The original layout for the 31 real days (API order = time order, 10k-row groups)."""
    out = work / "original"
    source = None
    schema = pa.schema([("timestamp", pa.int64()), ("point_name", pa.string()), ("value", pa.float64()), ("site_name", pa.string())])
    for day in REAL_DAYS:
        path = out / f"site_name={SITE}" / f"date={day}" / "data.parquet"
        if path.is_file():
            continue
        if source is None:
            from bv_store.layout import archive_key

            t = pq.read_table(storage / archive_key(SITE, SOURCE_DAY))
            source = pa.table({"timestamp": pc.divide(t.column("ts").cast(pa.int64()), 1000),
                               "point_name": t.column("point").cast(pa.string()), "value": t.column("value")})
            source = source.sort_by([("timestamp", "ascending")])
        shifted = source.set_column(0, "timestamp", pc.add(source.column("timestamp"), (day - SOURCE_DAY).days * 86_400_000))
        shifted = shifted.append_column("site_name", pa.array([SITE] * shifted.num_rows, pa.string()))
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(shifted.cast(schema), path, compression="snappy", row_group_size=10_000)
    return out


def peer_rows(storage: Path, points: list[str], peer_days: int):
    """Batches of (point, ts_ms, value): all points for peer days, the queried points for the year."""
    from bv_store.layout import archive_key

    t = pq.read_table(storage / archive_key(SITE, SOURCE_DAY))
    t = pa.table({"point": t.column("point").cast(pa.string()), "ts": pc.divide(t.column("ts").cast(pa.int64()), 1000),
                  "value": t.column("value")})
    mask = pc.is_in(t.column("point"), pa.array(points))
    queried, rest = t.filter(mask), t.filter(pc.invert(mask))
    full_days = set(REAL_DAYS[-peer_days:])
    day = YEAR_START
    while day <= REAL_DAYS[-1]:
        offset = (day - SOURCE_DAY).days * 86_400_000
        yield queried.set_column(1, "ts", pc.add(queried.column("ts"), offset))
        if day in full_days:
            yield rest.set_column(1, "ts", pc.add(rest.column("ts"), offset))
        day += timedelta(days=1)


def load_sqlite(path: Path, storage: Path, points: list[str], peer_days: int, ids: dict) -> int:
    done = path.with_suffix(f".{peer_days}.rows")
    if path.exists() and done.exists():
        return int(done.read_text())  # loaded by an earlier run with the same data
    if path.exists():
        path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE timeseries (site_name TEXT, point_id INTEGER, timestamp INTEGER, value REAL)")
    n = 0
    for batch in peer_rows(storage, points, peer_days):
        pid = [ids[p] for p in batch.column("point").to_pylist()]
        db.executemany("INSERT INTO timeseries VALUES (?, ?, ?, ?)",
                       zip([SITE] * batch.num_rows, pid, batch.column("ts").to_pylist(), batch.column("value").to_pylist()))
        n += batch.num_rows
    db.execute("CREATE INDEX ix_point_time ON timeseries (point_id, timestamp)")
    db.commit()
    db.close()
    done.write_text(str(n))
    return n


def load_postgres(pg: PgServer, storage: Path, points: list[str], peer_days: int, names: list[str]) -> int:
    import psycopg

    with psycopg.connect(pg.dsn, autocommit=True) as con:
        con.execute("CREATE TABLE points (id serial PRIMARY KEY, site_name text, name text, unit text)")
        con.execute("CREATE TABLE timeseries (point_id int, ts timestamptz, value float8, PRIMARY KEY (point_id, ts))")
        with con.cursor().copy("COPY points (site_name, name) FROM STDIN") as copy:
            for n in names:
                copy.write_row((SITE, n))
        ids = dict(con.execute("SELECT name, id FROM points").fetchall())
        n = 0
        import io

        import pyarrow.csv as pacsv

        for batch in peer_rows(storage, points, peer_days):
            rows = pa.table({
                "point_id": pa.array([ids[p] for p in batch.column("point").to_pylist()], pa.int32()),
                "ts": pc.multiply(batch.column("ts"), 1000).cast(pa.timestamp("us", tz="UTC")),
                "value": batch.column("value"),
            })
            sink = io.BytesIO()
            pacsv.write_csv(rows, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
            with con.cursor().copy("COPY timeseries (point_id, ts, value) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(sink.getvalue())
            n += batch.num_rows
        con.execute("VACUUM ANALYZE timeseries")
    return n


# ---------------------------------------------------------------- queries
def window(days: int, end: date = YEAR_END) -> tuple[datetime, datetime]:
    stop = datetime(end.year, end.month, end.day, tzinfo=timezone.utc)
    return stop - timedelta(days=days), stop


def http_rate(storage: Path, url_point: str, random_points: list[str] | None, seconds: int = 10,
              env_extra: dict | None = None) -> tuple[float, float]:
    """req/s and p50 latency (ms) for A through `bv serve --workers 2`, 16 concurrent clients."""
    port = free_port()
    env = {**os.environ, "BV_STORAGE_URL": str(storage), **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, "-m", "bv_cli.main", "serve", "--port", str(port), "--workers", "2",
                             "--no-access-log", "--log-level", "warning"], env=env, cwd=ROOT)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        start, end = window(1, SOURCE_DAY + timedelta(days=1))
        base = (f"http://127.0.0.1:{port}/timeseries/query?site_name={SITE}"
                f"&start_time={int(start.timestamp() * 1000)}&end_time={int(end.timestamp() * 1000)}")
        import urllib.parse

        urls = [f"{base}&point_names={urllib.parse.quote(p, safe='')}" for p in (random_points or [url_point])]
        for u in urls[:50]:
            answer = httpx.get(u, timeout=30)
            if answer.status_code != 200 or not answer.json()["samples"]:
                raise SystemExit(f"HTTP warm-up failed: {answer.status_code} {answer.text[:300]}")
        if shutil.which("wrk"):
            script = Path(tempfile.mkstemp(suffix=".lua")[1])
            paths = ",\n".join('"' + u.split(str(port), 1)[1] + '"' for u in urls)
            script.write_text(f"paths = {{{paths}}}\nlocal i = 0\nrequest = function() i = i + 1\n"
                              "  return wrk.format('GET', paths[(i % #paths) + 1]) end\n")
            out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script),
                                  f"http://127.0.0.1:{port}"], capture_output=True, text=True).stdout
            script.unlink()
            rate = float(out.split("Requests/sec:")[1].split()[0])
            p50 = out.split("50%")[1].split()[0]
            unit = 1 / 1000 if p50.endswith("us") else 1 if p50.endswith("ms") else 1000
            p50_ms = float(p50.rstrip("mus")) * unit
            return rate, p50_ms
        raise SystemExit("wrk not found: apt-get install wrk (the load must come from outside Python)")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bv-query-bench")
    parser.add_argument("--peer-days", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    print("preparing data ...", flush=True)
    storage = ensure_reference_day(args.work)
    sizes = build_year(storage)
    points = pick_points(storage)
    one, five = points[:1], points[1:6]
    names = pq.read_table(storage / "points" / f"site={SITE}" / "points.parquet", columns=["name"]).column("name").to_pylist()
    ids = {n: i + 1 for i, n in enumerate(names)}

    from bv_query import QueryEngine
    from bv_store.storage import Storage

    # ---- ours
    a_win, b_win, c_win = window(1, REAL_DAYS[-1] + timedelta(days=1)), window(30), window(365)
    results: dict[str, dict] = {}
    cold = QueryEngine(Storage.from_url(str(storage)), cache_mb=0)
    started = time.perf_counter()
    cold.query(SITE, one, *a_win)
    first_ms = (time.perf_counter() - started) * 1000
    warm = QueryEngine(Storage.from_url(str(storage)))
    queries = {
        "A": (one, a_win, "raw"),
        "B": (five, b_win, "1h"),
        "C": (one, c_win, "1h"),
    }
    for name, (pts, (s, e), iv) in queries.items():
        results.setdefault(name, {})
        engine = cold if name == "A" else warm
        results[name]["ours"] = timed(lambda: engine.query(SITE, pts, s, e, interval=iv, agg="avg").table, args.repeat)
    results["A"]["ours (cache)"] = timed(lambda: warm.query(SITE, one, *a_win).table, args.repeat)
    meta_c = warm.query(SITE, one, *c_win, interval="1h").metadata

    # ---- (a) original layout
    print("writing the original layout for the real days ...", flush=True)
    original = write_original_days(storage, args.work)
    ocon = duckdb.connect()
    ocon.execute("SET TimeZone='UTC'")

    def original_query(pts, s, e, iv):
        days = [s.date() + timedelta(days=i) for i in range((e - s).days or 1)]
        files = [str(original / f"site_name={SITE}" / f"date={d}" / "data.parquet") for d in days]
        files = [f for f in files if Path(f).is_file()]
        plist = ", ".join("'" + p.replace("'", "''") + "'" for p in pts)
        lo, hi = int(s.timestamp() * 1000), int(e.timestamp() * 1000)
        if iv == "raw":
            sql = (f"SELECT point_name, timestamp, value FROM read_parquet(?) WHERE point_name IN ({plist}) "
                   f"AND timestamp >= {lo} AND timestamp < {hi} ORDER BY point_name, timestamp")
        else:
            sql = (f"SELECT point_name, timestamp // 3600000 * 3600000 AS h, avg(value) FROM read_parquet(?) "
                   f"WHERE point_name IN ({plist}) AND timestamp >= {lo} AND timestamp < {hi} GROUP BY ALL ORDER BY 1, 2")
        return ocon.execute(sql, [files]).fetchall()

    results["A"]["original layout"] = timed(lambda: original_query(one, *a_win, "raw"), args.repeat)
    results["B"]["original layout"] = timed(lambda: original_query(five, *b_win, "1h"), max(3, args.repeat // 4))
    # C: the original layout has 31 real day files here; the year is 365 of them (x 365/31).
    c31 = window(31, REAL_DAYS[-1] + timedelta(days=1))
    med, p95, _ = timed(lambda: original_query(one, *c31, "1h"), 3)
    results["C"]["original layout"] = (med * 365 / 31, p95 * 365 / 31, None)
    original_bytes = (original / f"site_name={SITE}" / f"date={REAL_DAYS[0]}" / "data.parquet").stat().st_size

    # ---- (b) SQLite
    print(f"loading SQLite ({args.peer_days} full days + the queried points for the year) ...", flush=True)
    sqlite_path = args.work / "hot.sqlite"
    sqlite_rows = load_sqlite(sqlite_path, storage, points, args.peer_days, ids)
    db = sqlite3.connect(sqlite_path)

    def sqlite_query(pts, s, e, iv):
        lo, hi = int(s.timestamp() * 1000), int(e.timestamp() * 1000)
        marks = ",".join("?" * len(pts))
        if iv == "raw":
            sql = (f"SELECT point_id, timestamp, value FROM timeseries WHERE point_id IN ({marks}) "
                   f"AND timestamp >= ? AND timestamp < ? ORDER BY point_id, timestamp")
        else:
            sql = (f"SELECT point_id, timestamp / 3600000 * 3600000 AS h, avg(value) FROM timeseries WHERE point_id IN ({marks}) "
                   f"AND timestamp >= ? AND timestamp < ? GROUP BY point_id, h ORDER BY point_id, h")
        return db.execute(sql, [ids[p] for p in pts] + [lo, hi]).fetchall()

    for name, (pts, (s, e), iv) in queries.items():
        results[name]["SQLite"] = timed(lambda: sqlite_query(pts, s, e, iv), args.repeat)

    # ---- (c) PostgreSQL 15
    pg_note = ""
    pg = None
    pg_rows = pg_bytes = 0
    if Path("/usr/lib/postgresql/15/bin/postgres").exists():
        import psycopg

        print("loading PostgreSQL 15 ...", flush=True)
        pg = start_postgres(args.work, server_options="-c shared_buffers=1GB")
        try:
            pg_rows = load_postgres(pg, storage, points, args.peer_days, names)
            pcon = psycopg.connect(pg.dsn, autocommit=True)
            pg_bytes = pcon.execute("SELECT pg_total_relation_size('timeseries')").fetchone()[0]
            pid = dict(pcon.execute("SELECT name, id FROM points").fetchall())

            def pg_query(pts, s, e, iv):
                if iv == "raw":
                    sql = ("SELECT point_id, ts, value FROM timeseries WHERE point_id = ANY(%s) AND ts >= %s AND ts < %s "
                           "ORDER BY point_id, ts")
                else:
                    sql = ("SELECT point_id, date_trunc('hour', ts) AS h, avg(value) FROM timeseries WHERE point_id = ANY(%s) "
                           "AND ts >= %s AND ts < %s GROUP BY 1, 2 ORDER BY 1, 2")
                return pcon.execute(sql, ([pid[p] for p in pts], s, e)).fetchall()

            for name, (pts, (s, e), iv) in queries.items():
                results[name]["PostgreSQL 15"] = timed(lambda: pg_query(pts, s, e, iv), args.repeat)
        finally:
            pg.stop()
    else:
        pg_note = "PostgreSQL 15 not installed (apt-get install postgresql): peer skipped"

    # ---- equality: rows and values, ours vs each peer
    checks = []
    for name, (pts, (s, e), iv) in queries.items():
        ours = warm.query(SITE, pts, s, e, interval=iv, agg="avg").table
        ours_vals = np.array([v for v in ours.column("value").to_pylist() if v is not None])
        for peer, fn in (("SQLite", sqlite_query),) + ((("original layout", original_query),) if name != "C" else ()):
            theirs = np.array([r[-1] for r in fn(pts, s, e, iv)])
            same = len(theirs) == len(ours_vals) and np.allclose(np.sort(theirs), np.sort(ours_vals), rtol=0, atol=1e-9)
            checks.append(f"{name} vs {peer}: {'OK' if same else 'MISMATCH'} ({len(ours_vals)} vs {len(theirs)} rows)")

    # ---- HTTP
    print("HTTP: bv serve --workers 2, 16 concurrent clients (wrk) ...", flush=True)
    warm_rate, warm_p50 = http_rate(storage, one[0], None)
    cold_rate, cold_p50 = http_rate(storage, one[0], names[:2000])
    nocache_rate, nocache_p50 = http_rate(storage, one[0], names[:2000], env_extra={"BV_QUERY_CACHE_MB": "0"})

    # ---- report
    print(f"\nBuilding Vitals query benchmark — {SITE}: {len(names):,} points x 1 min, {sizes['rows_per_day']:,} samples/day")
    print(f"machine: {os.cpu_count()} cores; local storage; 31 real days + {365 - 31} hard-linked days with rollups; "
          f"median / p95 of {args.repeat} runs")
    print(f"peers: SQLite {sqlite_rows:,} rows, PostgreSQL {pg_rows:,} rows ({args.peer_days} full days + "
          f"the {len(points)} queried points for the year); original layout: the 31 real days "
          f"(C extrapolated x365/31)")
    targets = {"A": 10, "B": 50, "C": 100}
    labels = {"A": "A 1 pt x 24 h raw", "B": "B 5 pts x 30 d 1 h", "C": "C 1 pt x 365 d 1 h"}
    peers = ["original layout", "SQLite", "PostgreSQL 15"]
    print(f"\n{'query':24}{'ours ms':>16}{'target':>9}  " + "".join(f"{p + ' ms (x)':>26}" for p in peers))
    ok = True
    for name in "ABC":
        med, p95, _ = results[name]["ours"]
        passed = med <= targets[name]
        ok &= passed
        line = f"{labels[name]:24}{med:>9.2f}/{p95:>6.1f}{'<=' + str(targets[name]):>7} {'PASS' if passed else 'FAIL':4}"
        for p in peers:
            if p in results[name]:
                pm = results[name][p][0]
                line += f"{pm:>16.2f} ({pm / med:>6.1f}x)"
            else:
                line += f"{'-':>26}"
        print(line)
    med, p95, _ = results["A"]["ours (cache)"]
    print(f"{'A with point-day cache':24}{med:>9.2f}/{p95:>6.1f}")
    print(f"first query, cold process: {first_ms:.1f} ms; C read {meta_c['files_read']} files "
          f"({meta_c['days_from_rollup']} days from rollups)")
    http_ok = cold_rate >= 200
    print("\nD HTTP 1 pt x 24 h, bv serve --workers 2, 16 concurrent clients (wrk), target >= 200 req/s")
    print(f"  a different point per request (2,000 points), block cache on: {cold_rate:>6,.0f} req/s  p50 {cold_p50:>5.0f} ms  "
          f"{'PASS' if http_ok else 'FAIL'}")
    print(f"  one repeated point:                                        {warm_rate:>6,.0f} req/s  p50 {warm_p50:>5.0f} ms  "
          f"{'PASS' if warm_rate >= 200 else 'FAIL'}")
    print(f"  a different point per request, cache off (every row group decoded): {nocache_rate:,.0f} req/s  "
          f"p50 {nocache_p50:.0f} ms  (for reference)")
    ok &= http_ok
    print("\nbytes per sample")
    print(f"  archive (ours)         {sizes['archive_bytes'] / sizes['rows_per_day']:.3f}")
    print(f"  hourly rollup (ours)   {sizes['rollup_bytes'] / (31 * sizes['rows_per_day']):.3f}  (extra, per archived sample)")
    print(f"  original layout        {original_bytes / sizes['rows_per_day']:.3f}")
    print(f"  SQLite                 {sqlite_path.stat().st_size / sqlite_rows:.3f}")
    if pg_rows:
        print(f"  PostgreSQL 15          {pg_bytes / pg_rows:.3f}")
    elif pg_note:
        print("  " + pg_note)
    print("\nresult equality")
    for line in checks:
        print("  " + line)
    ok &= all("OK" in c for c in checks)
    print("\ntargets met" if ok else "\nTARGETS MISSED (see FAIL above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
