"""Archive verification, read back through DuckDB (an engine independent of the writer).

Plain functions the asset checks call: each returns facts; the checks decide pass/fail.
The "expected rows" count re-derives the archive from the raw file in SQL, a second
implementation of the value rule, so a bug in the pyarrow transform cannot hide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import pyarrow as pa

from bv_assets.days import day_window
from bv_assets.values import FALSE_WORDS, NUMBER_RE, TRUE_WORDS

EXPECTED_COLUMNS = {"point": "VARCHAR", "ts": "TIMESTAMP WITH TIME ZONE", "value": "DOUBLE"}


def _sql_list(words) -> str:
    return ", ".join(f"'{w}'" for w in words)


@dataclass
class ArchiveFacts:
    rows: int
    null_cells: int
    duplicate_keys: int
    outside_day: int
    points: int
    columns: dict[str, str]
    unknown_points: int
    unknown_examples: list[str] = field(default_factory=list)
    per_point_rows: dict[str, int] = field(default_factory=dict)
    sorted_ok: bool = True


def archive_facts(con: duckdb.DuckDBPyConnection, archive_uri: str, catalog_names: list[str], day: date) -> ArchiveFacts:
    start, end = day_window(day)
    con.execute("SET TimeZone = 'UTC'")
    src = f"read_parquet('{_q(archive_uri)}', hive_partitioning=false)"
    columns = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    rows, null_cells, outside, points = con.execute(
        f"""SELECT count(*),
                   count(*) FILTER (WHERE point IS NULL OR ts IS NULL OR value IS NULL OR isnan(value)),
                   count(*) FILTER (WHERE ts < ? OR ts >= ?),
                   count(DISTINCT point)
            FROM {src}""",
        [start, end],
    ).fetchone()
    dups = con.execute(
        f"SELECT count(*) FROM (SELECT point, ts FROM {src} GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()[0]
    con.register("bv_catalog", _names_table(catalog_names))
    unknown = con.execute(
        f"SELECT DISTINCT point FROM {src} WHERE point NOT IN (SELECT name FROM bv_catalog) ORDER BY 1"
    ).fetchall()
    per_point = dict(con.execute(f"SELECT point, count(*) FROM {src} GROUP BY point").fetchall())
    # Sorted by point then ts: no row may be smaller than the one before it.
    unsorted = con.execute(
        f"""SELECT count(*) FROM (
              SELECT point, ts, lag(point) OVER w AS p0, lag(ts) OVER w AS t0
              FROM (SELECT *, file_row_number AS rn FROM read_parquet('{_q(archive_uri)}', file_row_number=true, hive_partitioning=false))
              WINDOW w AS (ORDER BY rn))
            WHERE p0 > point OR (p0 = point AND t0 >= ts)"""
    ).fetchone()[0]
    con.unregister("bv_catalog")
    return ArchiveFacts(
        rows=rows,
        null_cells=null_cells,
        duplicate_keys=dups,
        outside_day=outside,
        points=points,
        columns=columns,
        unknown_points=len(unknown),
        unknown_examples=[u[0] for u in unknown[:5]],
        per_point_rows=per_point,
        sorted_ok=unsorted == 0,
    )


def expected_archive_rows(con: duckdb.DuckDBPyConnection, raw_uri: str, catalog_names: list[str], day: date) -> int:
    """Distinct valid (point, ts) of collect-enabled points in the raw file, by SQL."""
    start, end = day_window(day)
    con.execute("SET TimeZone = 'UTC'")
    con.register("bv_catalog", _names_table(catalog_names))
    try:
        return con.execute(
            f"""
            WITH r AS (
              SELECT name, lower(trim(value)) AS v, TRY_CAST(replace(time, ' ', 'T') AS TIMESTAMPTZ) AS ts
              FROM read_parquet('{_q(raw_uri)}', hive_partitioning=false)
              WHERE name IN (SELECT name FROM bv_catalog))
            SELECT count(*) FROM (
              SELECT DISTINCT name, ts FROM r
              WHERE ts >= ? AND ts < ?
                AND (v IN ({_sql_list(TRUE_WORDS + FALSE_WORDS)})
                     OR (regexp_full_match(v, '{NUMBER_RE.strip('^$')}')
                         AND isfinite(TRY_CAST(v AS DOUBLE)))))
            """,
            [start, end],
        ).fetchone()[0]
    finally:
        con.unregister("bv_catalog")


def raw_row_count(con: duckdb.DuckDBPyConnection, raw_uri: str) -> int:
    return con.execute(f"SELECT count(*) FROM read_parquet('{_q(raw_uri)}', hive_partitioning=false)").fetchone()[0]


def _names_table(names: list[str]) -> pa.Table:
    return pa.table({"name": pa.array(list(names), pa.string())})


def _q(uri: str) -> str:
    return uri.replace("'", "''")

