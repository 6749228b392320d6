"""ClickHouse (in-process, through chdb) as a ClickHouse user would set it up.

`samples`: MergeTree PARTITION BY day ORDER BY (point, ts), `point LowCardinality(String)`, `ts DateTime64(6)`
with Delta + ZSTD, `value Float64` with ZSTD: the smallest of the codecs tried on one
generated day (bytes/sample of ts: Delta+ZSTD 0.60, T64+ZSTD 0.81, ZSTD 0.86, DoubleDelta+ZSTD
2.92 — the scrape jitter defeats DoubleDelta; value: ZSTD 1.64, Gorilla+ZSTD 2.51), so
the peer's size is never inflated by a poor codec. Daily partitions, as a time-series user
would set them: on the 30-day store they measured ts 0.60 B/sample (3.20 unpartitioned: a
point's month of deltas outgrows ZSTD's block, while the points of one device, which share
scrape times, repeat each other within a day) and 1 pt x 24 h raw 5.4 ms (5.8). `hourly`: an
AggregatingMergeTree ORDER BY (point, hour) with count, sum, min, max and first/last
(argMin/argMax states), filled from `samples` after the load. Raw queries read `samples`;
1 h and 1 d read `hourly`. It holds every sample of the store (loaded straight from the
archive's Parquet files by ClickHouse's own reader), or, where loading 2.4 G rows does not fit
the benchmark's time here, a stated subset (`peers.source.Subset`: every point for its full
days plus the queried points for their ranges) that holds every sample the queries touch.

Needs the `bench` extra: .venv/bin/python -m pip install -e '.[dev,bench]' -c deploy/constraints.txt
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from peers.source import Query

INSTALL = "pip install -e '.[dev,bench]' -c deploy/constraints.txt (the `bench` extra: chdb, matplotlib)"

SCHEMA = [
    """CREATE TABLE samples (
         point LowCardinality(String),
         ts DateTime64(6, 'UTC') CODEC(Delta, ZSTD(3)),
         value Float64 CODEC(ZSTD(3))
       ) ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (point, ts)""",
    """CREATE TABLE hourly (
         point LowCardinality(String),
         hour DateTime('UTC') CODEC(DoubleDelta, ZSTD(3)),
         n SimpleAggregateFunction(sum, UInt64),
         s SimpleAggregateFunction(sum, Float64),
         mn SimpleAggregateFunction(min, Float64),
         mx SimpleAggregateFunction(max, Float64),
         first AggregateFunction(argMin, Float64, DateTime64(6, 'UTC')),
         last AggregateFunction(argMax, Float64, DateTime64(6, 'UTC'))
       ) ENGINE = AggregatingMergeTree ORDER BY (point, hour)""",
]


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ClickHousePeer:
    name = "ClickHouse (chdb)"
    ts_precision_us = 1

    def __init__(self, path: Path):
        try:
            from chdb import session
        except ImportError as exc:
            raise SystemExit(f"the ClickHouse peer needs chdb: {INSTALL}") from exc
        self.path = path
        self._session = session
        self.rows = 0

    def q(self, sql: str, fmt: str = "CSV"):
        return self.sess.query(sql, fmt)

    def load(self, year, subset, log=print) -> None:
        marker = self.path / "bench-loaded.json"
        held = "all" if subset is None else subset.describe(len(year.point_names))
        key = {"generator": year.manifest["generator"], "days": [d.isoformat() for d in year.days], "rows": year.rows,
               "schema": SCHEMA, "held": held}
        if marker.is_file() and json.loads(marker.read_text()) == key:
            self.sess = self._session.Session(str(self.path / "db"))
            self.rows = self._count("samples")
            log(f"  ClickHouse: reusing {self.path} ({self.rows:,} rows)")
            return
        # Not this store's samples, or an interrupted load: load again from nothing.
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        self.sess = self._session.Session(str(self.path / "db"))
        for stmt in SCHEMA:
            self.q(stmt)
        months = sorted({d.strftime("%Y-%m") for d in year.days})
        for month in months:
            for day in [d for d in year.days if d.strftime("%Y-%m") == month]:
                f = quote(str(year.archive_path(day)))
                where = ""
                if subset is not None and day not in subset.full_days:
                    wanted = [p for p, (a, b) in subset.point_days.items() if a <= day <= b]
                    if not wanted:
                        continue
                    where = " WHERE toString(point) IN (" + ", ".join(quote(p) for p in wanted) + ")"
                self.q(f"INSERT INTO samples SELECT toString(point), ts, value FROM file({f}, Parquet){where}")
            log(f"  ClickHouse: loaded {month}")
        # A user's steady state: parts merged, the hourly aggregate filled.
        self.q("OPTIMIZE TABLE samples FINAL")
        self.q("""INSERT INTO hourly SELECT point, toStartOfHour(ts) AS hour, count(), sum(value), min(value),
                  max(value), argMinState(value, ts), argMaxState(value, ts) FROM samples GROUP BY point, hour""")
        self.q("OPTIMIZE TABLE hourly FINAL")
        self.rows = self._count("samples")
        hourly_rows = int(str(self.q("SELECT sum(n) FROM hourly")).strip() or 0)
        if subset is None and self.rows != year.rows:
            raise RuntimeError(f"ClickHouse holds {self.rows:,} rows, the store {year.rows:,}")
        if hourly_rows != self.rows:
            raise RuntimeError(f"ClickHouse hourly counts {hourly_rows:,} samples, the table {self.rows:,}")
        marker.write_text(json.dumps(key))

    def _exists(self, table: str) -> bool:
        return str(self.q(f"EXISTS TABLE {table}")).strip() == "1"

    def _count(self, table: str) -> int:
        return int(str(self.q(f"SELECT count() FROM {table}")).strip())

    def run(self, q: Query):
        pts = ", ".join(quote(p) for p in q.points)
        lo, hi = q.start_us, q.end_us
        if q.interval == "raw":
            sql = (f"SELECT point, toUnixTimestamp64Micro(ts) AS t, value FROM samples WHERE point IN ({pts}) "
                   f"AND ts >= fromUnixTimestamp64Micro({lo}, 'UTC') AND ts < fromUnixTimestamp64Micro({hi}, 'UTC') "
                   "ORDER BY point, ts")
        else:
            bucket = "hour" if q.interval == "1h" else "toStartOfDay(hour)"
            sql = (f"SELECT point, toInt64(toUnixTimestamp({bucket})) * 1000000 AS t, sum(s) / sum(n) AS value FROM hourly "
                   f"WHERE point IN ({pts}) AND hour >= toDateTime({lo // 1_000_000}, 'UTC') "
                   f"AND hour < toDateTime({hi // 1_000_000}, 'UTC') GROUP BY point, t ORDER BY point, t")
        return self.q(sql, "ArrowTable")

    def table(self, raw):
        import pyarrow as pa

        return pa.table({"point": raw.column(0).cast(pa.string()), "ts": raw.column(1).cast(pa.int64()),
                         "value": raw.column(2).cast(pa.float64())})

    def storage_bytes(self) -> int:
        return int(str(self.q("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = currentDatabase() "
                              "AND table IN ('samples', 'hourly')")).strip())

    def close(self) -> None:
        self.sess.close()
