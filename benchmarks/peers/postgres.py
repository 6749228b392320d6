"""PostgreSQL 15 with the original project's schema plus an hourly materialized view.

`points(id, site_name, name, unit)` and `timeseries(point_id, ts timestamptz, value float8,
primary key (point_id, ts))` as the origin moved to; `timeseries_hourly` is a materialized
view (point_id, hour, count, sum, min, max, first, last) with a unique index on
(point_id, hour), refreshed after the load. Raw queries read `timeseries` by its primary
key; 1 h and 1 d read the view. The server is started by the benchmark on loopback
(tests/support/postgres.py) and stopped at the end.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from peers.source import Query, day_arrays

SITE = "ref_site"
MATVIEW = """
CREATE MATERIALIZED VIEW timeseries_hourly AS
SELECT point_id, date_trunc('hour', ts) AS hour, count(*) AS count, sum(value) AS sum, min(value) AS min,
       max(value) AS max, (array_agg(value ORDER BY ts))[1] AS first, (array_agg(value ORDER BY ts DESC))[1] AS last
FROM timeseries GROUP BY 1, 2
"""


class PostgresPeer:
    name = "PostgreSQL 15"
    ts_precision_us = 1

    def __init__(self, tmpdir=None):
        self.tmpdir = tmpdir
        self.rows = 0
        self.pg = None

    def load(self, year, subset, log=print) -> None:
        import psycopg

        from support.postgres import start_postgres

        self.pg = start_postgres(self.tmpdir, server_options="-c shared_buffers=1GB -c max_wal_size=4GB -c fsync=off "
                                                             "-c synchronous_commit=off -c full_page_writes=off")
        con = psycopg.connect(self.pg.dsn, autocommit=True)
        con.execute("SET TIME ZONE 'UTC'")
        con.execute("CREATE TABLE points (id serial PRIMARY KEY, site_name text, name text UNIQUE, unit text)")
        con.execute("CREATE TABLE timeseries (point_id int, ts timestamptz, value float8, PRIMARY KEY (point_id, ts))")
        with con.cursor().copy("COPY points (site_name, name) FROM STDIN") as copy:
            for n in year.point_names:
                copy.write_row((SITE, n))
        self.ids = dict(con.execute("SELECT name, id FROM points").fetchall())
        self.names = {i: n for n, i in self.ids.items()}
        id_of_rank = np.array([self.ids[n] for n in year.point_names], dtype=np.int32)
        n = 0
        for day in year.days:
            rank, ts, value = day_arrays(year, day, subset)
            if not len(rank):
                continue
            rows = pa.table({"point_id": pa.array(id_of_rank[rank]), "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                             "value": pa.array(value)})
            sink = io.BytesIO()
            pacsv.write_csv(rows, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
            with con.cursor().copy("COPY timeseries (point_id, ts, value) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(sink.getvalue())
            n += len(rank)
        log(f"  PostgreSQL: {n:,} rows copied; building the hourly materialized view ...")
        con.execute(MATVIEW)
        con.execute("CREATE UNIQUE INDEX timeseries_hourly_key ON timeseries_hourly (point_id, hour)")
        con.execute("VACUUM ANALYZE timeseries")
        con.execute("VACUUM ANALYZE timeseries_hourly")
        self.rows = n
        self.con = con

    def run(self, q: Query):
        ids = [self.ids[p] for p in q.points]
        if q.interval == "raw":
            sql = ("SELECT point_id, ts, value FROM timeseries WHERE point_id = ANY(%s) AND ts >= %s AND ts < %s "
                   "ORDER BY point_id, ts")
        elif q.interval == "1h":
            sql = ("SELECT point_id, hour, sum / count FROM timeseries_hourly WHERE point_id = ANY(%s) "
                   "AND hour >= %s AND hour < %s ORDER BY point_id, hour")
        else:
            sql = ("SELECT point_id, date_trunc('day', hour) AS d, sum(sum) / sum(count) FROM timeseries_hourly "
                   "WHERE point_id = ANY(%s) AND hour >= %s AND hour < %s GROUP BY 1, 2 ORDER BY 1, 2")
        return self.con.execute(sql, (ids, q.start, q.end)).fetchall()

    def table(self, raw):
        from compare import answer_table

        epoch, us = datetime(1970, 1, 1, tzinfo=timezone.utc), timedelta(microseconds=1)
        ts = [(r[1] - epoch) // us for r in raw]
        return answer_table([self.names[r[0]] for r in raw], ts, [r[2] for r in raw])

    def storage_bytes(self) -> int:
        return sum(self.con.execute(f"SELECT pg_total_relation_size('{t}')").fetchone()[0]
                   for t in ("timeseries", "timeseries_hourly"))

    def close(self) -> None:
        if self.pg is not None:
            try:
                self.con.close()
            finally:
                self.pg.stop()
