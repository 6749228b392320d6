"""Engine probe: the query layer's latency targets of issue 12 (A-E) on an existing store.

    .venv/bin/python benchmarks/engine_probe.py [--storage DIR] [--only ABCDE] [--repeat 30]

The store is the one benchmarks/query_bench.py builds (site ref_site: 31 real days in May 2025
and hard-linked days back to 2024-06-01, monthly rollups); pass its `storage` folder.

  A  1 point x 24 h raw; each query a point whose row group this process has not read before
     (another day file or another row group), OS file cache warm          target <= 1.5 ms
  B  5 points x 30 d at 1 h avg (repeated; and 5 points never asked before) target <= 10 ms
  C  1 point x 365 d at 1 h avg (repeated; and a point never asked before)  target <= 10 ms
  D  HTTP: A through `bv serve --workers 2`, 16 concurrent clients (wrk), a different point per
     request out of 2,000                                          >= 1,000 req/s, p99 <= 50 ms
  E  a freshly started `bv serve`: process start to the first answer of an A query   <= 1 s

Each line prints the median wall time and the median CPU time of this process per query
(time.process_time): CPU time is less sensitive to other work on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.ports import free_port  # noqa: E402

SITE = "ref_site"
A_DAYS = [date(2025, 5, 1) + timedelta(days=i) for i in range(31)]  # the real (not hard-linked) days
YEAR_END = datetime(2025, 6, 1, tzinfo=timezone.utc)


def _day(d: date) -> tuple[datetime, datetime]:
    start = datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def measure(calls) -> tuple[float, float]:
    """(median wall ms, median CPU ms) over the calls (each a no-argument callable)."""
    wall, cpu = [], []
    for call in calls:
        w, c = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def line(name: str, wall: float, cpu: float, target: str, ok: bool | None = None) -> str:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    return f"{name:52}{wall:>9.2f} ms wall{cpu:>9.2f} ms CPU   {target:>10} {verdict}"


def points_by_row_group(storage: Path, day: date) -> list[list[str]]:
    """The points of each row group of a day file (from the file's own point column)."""
    import pyarrow.parquet as pq

    from bv_store.layout import archive_key

    f = pq.ParquetFile(storage / archive_key(SITE, day), read_dictionary=["point"])
    out = []
    for rg in range(f.num_row_groups):
        col = f.read_row_group(rg, columns=["point"]).column(0)
        out.append(sorted(set(col.to_pylist())))
    return out


def probe_engine(storage: Path, only: str, repeat: int, lines: list[str]) -> None:
    from bv_query import QueryEngine
    from bv_store.storage import Storage

    groups = points_by_row_group(storage, A_DAYS[0])
    engine = QueryEngine(Storage.from_url(str(storage)))
    # Warm the OS file cache and the process's file metadata through other points' queries
    # (peers get warm caches too); the A points below sit in row groups nobody read yet.
    first, last = groups[0][0], groups[-1][-1]
    for d in A_DAYS:
        engine.query(SITE, [first], *_day(d))
        engine.query(SITE, [last], *_day(d))
    engine.query(SITE, [first], YEAR_END - timedelta(days=365), YEAR_END, interval="1h")
    if "A" in only:
        calls = []
        for i, d in enumerate(A_DAYS):
            for g in (groups[5 + i % 15],):  # a middle row group, never touched on that day
                point = g[len(g) // 2]
                calls.append(lambda p=point, d=d: engine.query(SITE, [p], *_day(d)))
        wall, cpu = measure(calls)
        lines.append(line("A 1 pt x 24 h raw, unseen row group", wall, cpu, "<= 1.5 ms", wall <= 1.5))
        neighbours = [g[len(g) // 2 + 1] for g in groups[5:20]]
        wall, cpu = measure([lambda p=p, d=d: engine.query(SITE, [p], *_day(d)) for p, d in zip(neighbours, A_DAYS)])
        lines.append(line("A' 1 pt x 24 h raw, neighbour of a read point", wall, cpu, ""))
        p = neighbours[0]
        wall, cpu = measure([lambda: engine.query(SITE, [p], *_day(A_DAYS[0]))] * repeat)
        lines.append(line("A'' 1 pt x 24 h raw, the same point repeated", wall, cpu, ""))
    all_points = [p for g in groups for p in g]
    if "B" in only:
        start = YEAR_END - timedelta(days=30)
        five = all_points[100:105]
        engine.query(SITE, five, start, YEAR_END, interval="1h")
        wall, cpu = measure([lambda: engine.query(SITE, five, start, YEAR_END, interval="1h")] * repeat)
        lines.append(line("B 5 pts x 30 d at 1 h, repeated", wall, cpu, "<= 10 ms", wall <= 10))
        sets = [all_points[400 + 150 * i: 405 + 150 * i] for i in range(12)]
        wall, cpu = measure([lambda s=s: engine.query(SITE, s, start, YEAR_END, interval="1h") for s in sets])
        lines.append(line("B 5 pts x 30 d at 1 h, points never asked", wall, cpu, ""))
    if "C" in only:
        start = YEAR_END - timedelta(days=365)
        one = [all_points[2000]]
        engine.query(SITE, one, start, YEAR_END, interval="1h")
        wall, cpu = measure([lambda: engine.query(SITE, one, start, YEAR_END, interval="1h")] * repeat)
        lines.append(line("C 1 pt x 365 d at 1 h, repeated", wall, cpu, "<= 10 ms", wall <= 10))
        singles = [[all_points[2300 + 170 * i]] for i in range(12)]
        wall, cpu = measure([lambda s=s: engine.query(SITE, s, start, YEAR_END, interval="1h") for s in singles])
        lines.append(line("C 1 pt x 365 d at 1 h, a point never asked", wall, cpu, ""))
    engine.close()


def _serve(storage: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "BV_STORAGE_URL": str(storage)}
    return subprocess.Popen(
        [sys.executable, "-m", "bv_cli.main", "serve", "--port", str(port), "--workers", str(workers),
         "--no-access-log", "--log-level", "warning"], env=env, cwd=ROOT,
    )


def _a_path(point: str, d: date) -> str:
    s, e = _day(d)
    return (f"/timeseries/query?site_name={SITE}&start_time={int(s.timestamp() * 1000)}"
            f"&end_time={int(e.timestamp() * 1000)}&point_names={urllib.parse.quote(point, safe='')}")


def _get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def probe_first_answer(storage: Path, point: str, lines: list[str]) -> None:
    """E: wall time from Popen to the first 200 answer of an A query (polling every 5 ms)."""
    port = free_port()
    started = time.perf_counter()
    proc = _serve(storage, port, 1)
    try:
        while True:
            try:
                status, body = _get(port, _a_path(point, A_DAYS[-1]))
                break
            except OSError:
                if time.perf_counter() - started > 60:
                    raise SystemExit("E: bv serve did not answer within 60 s")
                time.sleep(0.005)
        elapsed = time.perf_counter() - started
        cpu = _children_cpu(proc.pid)  # the server's CPU from exec to its first answer
        if status != 200 or b'"samples":[{' not in body:
            raise SystemExit(f"E: first answer was {status}: {body[:300]!r}")
        lines.append(line("E first answer of a fresh bv serve (from Popen)", elapsed * 1000, cpu * 1000,
                          "<= 1000 ms", elapsed <= 1.0))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def probe_http(storage: Path, names: list[str], seconds: int, lines: list[str]) -> None:
    """D: wrk, 2 threads, 16 connections, a different point per request (cycling 2,000)."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk (the load must come from outside Python)")
    port = free_port()
    proc = _serve(storage, port, 2)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(port, "/health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("D: bv serve did not start")
                time.sleep(0.1)
        paths = [_a_path(p, A_DAYS[-1]) for p in names]
        for p in paths[:20]:
            status, body = _get(port, p, timeout=30)
            if status != 200 or b'"samples":[{' not in body:
                raise SystemExit(f"D: warm-up answer {status}: {body[:300]!r}")
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        script.write_text("paths = {" + ",\n".join(f'"{p}"' for p in paths) + "}\nlocal i = 0\n"
                          "request = function() i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1]) end\n")
        cpu_before = _children_cpu(proc.pid)
        out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script),
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True).stdout
        cpu_used = _children_cpu(proc.pid) - cpu_before
        script.unlink()
        rate = float(out.split("Requests/sec:")[1].split()[0])
        requests = int(out.split(" requests in ")[0].split()[-1])
        errors = "Non-2xx" in out or "Socket errors" in out

        dist = out.split("Latency Distribution")[1]

        def ms(tag: str) -> float:
            text = next(ln.split()[1] for ln in dist.splitlines() if ln.strip().startswith(tag))
            unit = 1 / 1000 if text.endswith("us") else 1000 if text.endswith("s") and not text.endswith("ms") else 1
            return float(text.rstrip("mus")) * unit

        p50, p99 = ms("50%"), ms("99%")
        ok = rate >= 1000 and p99 <= 50 and not errors
        lines.append(f"{'D HTTP A, --workers 2, 16 clients, 2,000 points':52}{rate:>9,.0f} req/s   p50 {p50:.1f} ms  "
                     f"p99 {p99:.1f} ms  server CPU {cpu_used / max(requests, 1) * 1000:.2f} ms/req  "
                     f"{'>= 1000, p99 <= 50':>10} {'PASS' if ok else 'FAIL'}" + ("  (errors: see wrk)" if errors else ""))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _children_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants, from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids += [int(p) for p in out]
    except FileNotFoundError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (FileNotFoundError, IndexError, ValueError):
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", type=Path, default=Path("/work/bench-data/h6/storage"))
    parser.add_argument("--only", default="ABCDE")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration for D")
    args = parser.parse_args()
    import pyarrow.parquet as pq

    from bv_store.layout import points_key

    names = pq.read_table(args.storage / points_key(SITE), columns=["name"]).column("name").to_pylist()
    lines: list[str] = []
    if set("ABC") & set(args.only):
        probe_engine(args.storage, args.only, args.repeat, lines)
    if "E" in args.only:
        probe_first_answer(args.storage, sorted(names)[len(names) // 3], lines)
    if "D" in args.only:
        probe_http(args.storage, sorted(names)[:2000], args.seconds, lines)
    print(f"\nengine probe — {args.storage} (exploratory: {os.cpu_count()} cores shared with other work; "
          f"load average {os.getloadavg()[0]:.2f})")
    for text in lines:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
