"""Archive verification, read back through DuckDB (an engine independent of the writer).

Plain functions the asset checks call: each returns facts; the checks decide pass/fail.
The "expected rows" count re-derives the archive from the raw file in SQL, a second
implementation of the value rule, so a bug in the pyarrow transform cannot hide.
Memory stays flat: order is checked on a streamed scan, aggregates run inside DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bv_store.days import day_window
from bv_store.schemas import ARCHIVE_DUCKDB_TYPES

EXPECTED_COLUMNS = ARCHIVE_DUCKDB_TYPES
SCAN_BATCH_ROWS = 256 * 1024

# The value and time rules, written again here from the README's contract (not imported
# from the writer's modules), so a wrong constant on one side shows as a difference.
SQL_TRUE = ("true", "active", "on")
SQL_FALSE = ("false", "inactive", "off")
SQL_NUMBER = r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?"
# ISO 8601 as ACE sends it: date, T or space, hh:mm[:ss[.ffffff]], optional Z or ±hh[:]mm.
SQL_TIME = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,6})?)?"
            r"(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?")
# ASCII whitespace trimmed (DuckDB's trim() strips spaces only).
TRIMMED = "regexp_replace(value, '^[[:space:]]+|[[:space:]]+$', '', 'g')"
TIME_NORM = "upper(regexp_replace(time, '^[[:space:]]+|[[:space:]]+$', '', 'g'))"
TIME_US = (f"CASE WHEN regexp_full_match({TIME_NORM}, '{SQL_TIME}') "
           f"THEN epoch_us(TRY_CAST(replace({TIME_NORM}, ' ', 'T') AS TIMESTAMPTZ)) END")


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


def _q(uri: str) -> str:
    return uri.replace("'", "''")


def _source(uri: str) -> str:
    # hive_partitioning off: the path's site=/date= folders are not columns of the file.
    return f"read_parquet('{_q(uri)}', hive_partitioning=false)"


def _names_table(names: list[str]) -> pa.Table:
    return pa.table({"name": pa.array(list(names), pa.string()), "id": pa.array(range(len(names)), pa.int32())})


def order_and_duplicates(con: duckdb.DuckDBPyConnection, uri: str) -> tuple[bool, int]:
    """(sorted by point then ts, adjacent duplicate (point, ts) count) on a streamed scan."""
    # A relation streams: only one batch of the scan is in memory at a time.
    reader = con.sql(f"SELECT point, epoch_us(ts) AS us FROM {_source(uri)}").to_arrow_reader(SCAN_BATCH_ROWS)
    sorted_ok, duplicates = True, 0
    last_point, last_us = None, None
    for batch in reader:
        if batch.num_rows == 0:
            continue
        points = batch.column(0).cast(pa.string())
        us = batch.column(1).to_numpy(zero_copy_only=False)
        if last_point is not None:
            points = pa.concat_arrays([pa.array([last_point], pa.string()), points])
            us = np.concatenate([[last_us], us])
        prev_p, next_p = points.slice(0, len(points) - 1), points.slice(1)
        same = pc.equal(prev_p, next_p).to_numpy(zero_copy_only=False)
        if not pc.all(pc.less_equal(prev_p, next_p)).as_py():
            sorted_ok = False
        step = np.diff(us)
        if (step[same] < 0).any():
            sorted_ok = False
        duplicates += int((same & (step == 0)).sum())
        last_point, last_us = points[-1].as_py(), int(us[-1])
    return sorted_ok, duplicates


def archive_facts(con: duckdb.DuckDBPyConnection, archive_uri: str, catalog_names: list[str], day: date) -> ArchiveFacts:
    start, end = day_window(day)
    src = _source(archive_uri)
    columns = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    rows, null_cells, outside, points = con.execute(
        f"""SELECT count(*),
                   count(*) FILTER (WHERE point IS NULL OR ts IS NULL OR value IS NULL OR isnan(value)),
                   count(*) FILTER (WHERE ts < ? OR ts >= ?),
                   count(DISTINCT point)
            FROM {src}""",
        [start, end],
    ).fetchone()
    sorted_ok, duplicates = order_and_duplicates(con, archive_uri)
    if not sorted_ok:  # adjacency only finds every duplicate in a sorted file
        duplicates = con.execute(
            f"SELECT count(*) FROM (SELECT point, ts FROM {src} GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
    per_point = dict(con.execute(f"SELECT point, count(*) FROM {src} GROUP BY point").fetchall())
    catalog = set(catalog_names)
    unknown = sorted(p for p in per_point if p not in catalog)
    return ArchiveFacts(
        rows=rows,
        null_cells=null_cells,
        duplicate_keys=duplicates,
        outside_day=outside,
        points=points,
        columns=columns,
        unknown_points=len(unknown),
        unknown_examples=unknown[:5],
        per_point_rows=per_point,
        sorted_ok=sorted_ok,
    )


@dataclass(frozen=True)
class PointContent:
    """What a point's day holds, computed the same way on both sides of a reconciliation.
    `digest` is the sum of hash(µs into the day, value) over its rows: any changed value,
    moved timestamp, dropped or added row changes it."""

    rows: int
    value_sum: float
    ts_sum: int
    min: float
    max: float
    first_us: int
    last_us: int
    digest: int


_CONTENT_AGG = """count(*), sum(value), sum(us), min(value), max(value), min(us), max(us),
                  sum(hash(us, value))::HUGEINT"""


def archive_content(con: duckdb.DuckDBPyConnection, archive_uri: str, day: date) -> dict[str, PointContent]:
    """Per point: rows, sums, extremes, first/last µs and digest of the archive file."""
    start, _ = day_window(day)
    rows = con.execute(
        f"""SELECT point::VARCHAR, {_CONTENT_AGG}
            FROM (SELECT point, epoch_us(ts) - epoch_us(?::TIMESTAMPTZ) AS us, value FROM {_source(archive_uri)})
            GROUP BY point""",
        [start],
    ).fetchall()
    return {r[0]: PointContent(*r[1:]) for r in rows}


def expected_content(con: duckdb.DuckDBPyConnection, raw_uri: str, catalog_names: list[str], day: date) -> dict[str, PointContent]:
    """The archive re-derived from the raw file in SQL — a second implementation of the value
    rule, the day window, the catalog filter and "the last sample ACE sent wins" — per point."""
    start, end = day_window(day)
    words_true = ", ".join(f"'{w}'" for w in SQL_TRUE)
    words_false = ", ".join(f"'{w}'" for w in SQL_FALSE)
    raw = f"read_parquet('{_q(raw_uri)}', hive_partitioning=false, file_row_number=true)"
    # Small lookup tables first (catalog, valid distinct values, distinct times), so the
    # join below streams the raw file against them instead of hashing the raw file.
    con.register("bv_catalog_arrow", _names_table(catalog_names))
    con.execute("CREATE OR REPLACE TEMP TABLE bv_catalog AS SELECT * FROM bv_catalog_arrow")
    con.unregister("bv_catalog_arrow")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE bv_valid_values AS
            SELECT value,
                   CASE WHEN lower({TRIMMED}) IN ({words_true}) THEN 1.0
                        WHEN lower({TRIMMED}) IN ({words_false}) THEN 0.0
                        ELSE TRY_CAST({TRIMMED} AS DOUBLE) END AS num
            FROM (SELECT DISTINCT value FROM {_source(raw_uri)} WHERE value IS NOT NULL)
            WHERE lower({TRIMMED}) IN ({words_true}, {words_false})
               OR (regexp_full_match(lower({TRIMMED}), '{SQL_NUMBER}')
                   AND isfinite(TRY_CAST({TRIMMED} AS DOUBLE)))"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE bv_times AS
            SELECT time, {TIME_US} - epoch_us(?::TIMESTAMPTZ) AS us
            FROM (SELECT DISTINCT time FROM {_source(raw_uri)})""",
        [start],
    )
    day_us = int((end - start).total_seconds()) * 1_000_000
    try:
        rows = con.execute(
            f"""WITH last_sent AS (
                    SELECT c.id, t.us, arg_max(v.num, r.file_row_number) AS value
                    FROM {raw} r
                    JOIN bv_catalog c ON r.name = c.name
                    JOIN bv_valid_values v ON r.value = v.value
                    JOIN bv_times t ON r.time = t.time
                    WHERE t.us >= 0 AND t.us < {day_us}
                    GROUP BY c.id, t.us
                )
                SELECT c.name, {_CONTENT_AGG}
                FROM last_sent JOIN bv_catalog c USING (id)
                GROUP BY c.name"""
        ).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS bv_catalog; DROP TABLE IF EXISTS bv_valid_values; DROP TABLE IF EXISTS bv_times")
    return {r[0]: PointContent(*r[1:]) for r in rows}


def expected_archive_rows(con: duckdb.DuckDBPyConnection, raw_uri: str, catalog_names: list[str], day: date) -> int:
    """Distinct valid (point, ts) of collect-enabled points in the raw file, by SQL."""
    return sum(c.rows for c in expected_content(con, raw_uri, catalog_names, day).values())


def content_mismatches(
    expected: dict[str, PointContent], actual: dict[str, PointContent], source: str = "raw"
) -> list[str]:
    """One line per point whose archived content differs from the re-derived one (sorted)."""
    out = []
    for point in sorted(set(expected) | set(actual)):
        want, got = expected.get(point), actual.get(point)
        if want is None:
            out.append(f"{point}: {got.rows} rows archived, none expected from {source}")
        elif got is None:
            out.append(f"{point}: {want.rows} rows expected from {source}, none archived")
        elif want != got and not _same_but_float_sum(want, got):
            diffs = [f"{name} {getattr(got, name)} vs {getattr(want, name)} expected"
                     for name in ("rows", "min", "max", "first_us", "last_us", "ts_sum", "value_sum")
                     if getattr(got, name) != getattr(want, name)]
            out.append(f"{point}: " + (", ".join(diffs) if diffs else "values differ (digest)"))
    return out


def _same_but_float_sum(a: PointContent, b: PointContent) -> bool:
    """Equal in everything exact (the digest pins every value); the float sum may differ by
    rounding, since each scan adds in its own order: bounded by the magnitudes summed."""
    if (a.rows, a.min, a.max, a.first_us, a.last_us, a.ts_sum, a.digest) != (b.rows, b.min, b.max, b.first_us, b.last_us, b.ts_sum, b.digest):
        return False
    scale = max(1.0, a.rows * max(abs(a.min), abs(a.max)))
    return abs(a.value_sum - b.value_sum) <= 1e-9 * scale


def raw_rows_in_day(con: duckdb.DuckDBPyConnection, raw_uri: str, day: date) -> int:
    """Raw samples of any point whose time lies inside the day (0: ACE had no data)."""
    start, end = day_window(day)
    return con.execute(
        f"""SELECT count(*) FROM {_source(raw_uri)}
            WHERE {TIME_US} >= epoch_us(?::TIMESTAMPTZ) AND {TIME_US} < epoch_us(?::TIMESTAMPTZ)""",
        [start, end],
    ).fetchone()[0]
