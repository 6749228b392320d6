"""The original Worker's archive layout: one Parquet file per site-day, as the Worker wrote it.

Columns `timestamp` (int64 ms), `point_name`, `value`, `site_name`; snappy; 10,000-row
groups; rows in API order (time, then the source's point order). One file for each of the
store's days (365 for the year), written from the same samples. Read by DuckDB the way the
Worker's reader would: the range's day files, filtered by point name and time, aggregated
from raw minutes for 1 h and 1 d (the original had no rollup).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from peers.source import Query, day_arrays

SITE = "ref_site"
SCHEMA = pa.schema([("timestamp", pa.int64()), ("point_name", pa.string()), ("value", pa.float64()),
                    ("site_name", pa.string())])


_WRITER: dict = {}  # the year and peer a forked writer process works on


def _write_day(day) -> tuple[str, int, int]:
    rows, size = _WRITER["peer"].write_day(_WRITER["year"], day)
    return day.isoformat(), rows, size


class OriginalLayoutPeer:
    name = "original layout"
    ts_precision_us = 1000

    def __init__(self, root: Path, api_order: np.ndarray):
        self.root = root
        self.api_order = api_order  # archive rank -> the source's point index (API order within a time)
        self.rows = 0

    def path(self, day) -> Path:
        return self.root / f"site_name={SITE}" / f"date={day}" / "data.parquet"

    def load(self, year, subset, log=print, jobs: int = 1) -> None:
        if subset is not None:
            raise ValueError("the original layout holds the whole store")
        marker = self.root / "bench-written.json"
        done = json.loads(marker.read_text()) if marker.is_file() else {}
        if done.get("generator") != year.manifest["generator"]:
            done = {"generator": year.manifest["generator"], "days": {}}
        missing = [d for d in year.days if not (d.isoformat() in done["days"] and self.path(d).is_file())]
        _WRITER.update(year=year, peer=self)
        if jobs > 1 and len(missing) > 1:
            import multiprocessing

            pool = multiprocessing.get_context("fork").Pool(jobs)
            results = pool.imap_unordered(_write_day, missing)
        else:
            pool, results = None, map(_write_day, missing)
        try:
            for written, (day_iso, rows, size) in enumerate(results, 1):
                done["days"][day_iso] = {"rows": rows, "bytes": size}
                if written % 10 == 0:
                    log(f"  original layout: {written} of {len(missing)} days written")
                    marker.write_text(json.dumps(done))
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        marker.write_text(json.dumps(done))
        self.days = {d: done["days"][d.isoformat()] for d in year.days}
        self.rows = sum(v["rows"] for v in self.days.values())
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone='UTC'")

    def write_day(self, year, day) -> tuple[int, int]:
        rank, ts, value = day_arrays(year, day, None)
        order = np.lexsort((self.api_order[rank], ts))
        rank, ts, value = rank[order], ts[order], value[order]
        names = pa.array(year.point_names, pa.string())
        table = pa.table([pa.array(ts // 1000), names.take(pa.array(rank)), pa.array(value),
                          pa.array(np.full(len(rank), SITE, dtype=object), pa.string())], schema=SCHEMA)
        path = self.path(day)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        pq.write_table(table, scratch, compression="snappy", row_group_size=10_000)
        scratch.replace(path)  # a killed load never leaves a short file under the day's name
        return len(rank), path.stat().st_size

    def run(self, q: Query):
        from datetime import timedelta

        first, last = q.start.date(), (q.end - timedelta(microseconds=1)).date()
        files = [str(self.path(d)) for d in self.days if first <= d <= last]
        if not files:
            return []
        plist = ", ".join("'" + p.replace("'", "''") + "'" for p in q.points)
        lo, hi = q.start_us // 1000, q.end_us // 1000
        where = f"point_name IN ({plist}) AND timestamp >= {lo} AND timestamp < {hi}"
        if q.interval == "raw":
            sql = f"SELECT point_name, timestamp, value FROM read_parquet(?) WHERE {where} ORDER BY point_name, timestamp"
        else:
            width = 3_600_000 if q.interval == "1h" else 86_400_000
            sql = (f"SELECT point_name, timestamp // {width} * {width} AS b, avg(value) FROM read_parquet(?) "
                   f"WHERE {where} GROUP BY ALL ORDER BY 1, 2")
        return self.con.execute(sql, [files]).fetchall()

    def table(self, raw):
        from compare import answer_table

        return answer_table([r[0] for r in raw], np.array([r[1] for r in raw], dtype=np.int64) * 1000, [r[2] for r in raw])

    def storage_bytes(self) -> int:
        return sum(v["bytes"] for v in self.days.values())

    def close(self) -> None:
        self.con.close()
