"""SQLite shaped like the original project's hot tier, plus an hourly summary table.

`timeseries(site_name, point_id, timestamp ms, value)` indexed on (point_id, timestamp), as
the original hot tier; `timeseries_hourly(point_id, hour ms, count, sum, min, max, first,
last)` keyed by (point_id, hour) (WITHOUT ROWID: the rows live in the key's B-tree), filled
from the same samples at load time. Raw queries read `timeseries`; 1 h and 1 d read the
summary. Timestamps are milliseconds, as the original stored them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from peers.source import Query, day_arrays, hourly

SITE = "ref_site"


class SqlitePeer:
    name = "SQLite"
    ts_precision_us = 1000

    def __init__(self, path: Path):
        self.path = path
        self.rows = 0

    def load(self, year, subset, log=print) -> None:
        done = self.path.with_suffix(".loaded")
        key = f"{year.manifest['generator']} {len(year.days)} {subset.describe(len(year.point_names))}"
        if self.path.exists() and done.exists() and done.read_text().split("\n", 1)[1] == key:
            self.rows = int(done.read_text().split("\n", 1)[0])
            log(f"  SQLite: reusing {self.path} ({self.rows:,} rows)")
        else:
            for p in (self.path, done):
                p.unlink(missing_ok=True)
            db = sqlite3.connect(self.path)
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("CREATE TABLE points (id INTEGER PRIMARY KEY, site_name TEXT, name TEXT UNIQUE)")
            db.execute("CREATE TABLE timeseries (site_name TEXT, point_id INTEGER, timestamp INTEGER, value REAL)")
            db.execute("CREATE TABLE timeseries_hourly (point_id INTEGER, hour INTEGER, count INTEGER, sum REAL, "
                       "min REAL, max REAL, first REAL, last REAL, PRIMARY KEY (point_id, hour)) WITHOUT ROWID")
            db.executemany("INSERT INTO points VALUES (?, ?, ?)", [(i + 1, SITE, n) for i, n in enumerate(year.point_names)])
            n = 0
            for day in year.days:
                rank, ts, value = day_arrays(year, day, subset)
                pid = (rank + 1).tolist()
                db.executemany("INSERT INTO timeseries VALUES ('" + SITE + "', ?, ?, ?)",
                               zip(pid, (ts // 1000).tolist(), value.tolist()))
                h = hourly(rank, ts, value)
                db.executemany("INSERT INTO timeseries_hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               zip((h[0] + 1).tolist(), (h[1] // 1000).tolist(), *(a.tolist() for a in h[2:])))
                n += len(rank)
            db.execute("CREATE INDEX ix_point_time ON timeseries (point_id, timestamp)")
            db.commit()
            db.execute("VACUUM")
            db.close()
            self.rows = n
            done.write_text(f"{n}\n{key}")
        self.db = sqlite3.connect(self.path)
        self.ids = {n: i + 1 for i, n in enumerate(year.point_names)}
        self.names = {i: n for n, i in self.ids.items()}

    def run(self, q: Query):
        marks = ",".join("?" * len(q.points))
        args = [self.ids[p] for p in q.points] + [q.start_us // 1000, q.end_us // 1000]
        if q.interval == "raw":
            sql = (f"SELECT point_id, timestamp, value FROM timeseries WHERE point_id IN ({marks}) "
                   "AND timestamp >= ? AND timestamp < ? ORDER BY point_id, timestamp")
        elif q.interval == "1h":
            sql = (f"SELECT point_id, hour, sum / count FROM timeseries_hourly WHERE point_id IN ({marks}) "
                   "AND hour >= ? AND hour < ? ORDER BY point_id, hour")
        else:
            sql = (f"SELECT point_id, hour / 86400000 * 86400000 AS d, sum(sum) / sum(count) FROM timeseries_hourly "
                   f"WHERE point_id IN ({marks}) AND hour >= ? AND hour < ? GROUP BY point_id, d ORDER BY point_id, d")
        return self.db.execute(sql, args).fetchall()

    def table(self, raw):
        from compare import answer_table

        return answer_table([self.names[r[0]] for r in raw], np.array([r[1] for r in raw], dtype=np.int64) * 1000,
                            [r[2] for r in raw])

    def storage_bytes(self) -> int:
        return self.path.stat().st_size

    def close(self) -> None:
        self.db.close()
