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
    # (point, first file row, rows) in row order: what the footer's point index must record.
    point_runs: list[tuple[str, int, int]] = field(default_factory=list)


def _q(uri: str) -> str:
    return uri.replace("'", "''")


def _source(uri: str) -> str:
    # hive_partitioning off: the path's site=/date= folders are not columns of the file.
    return f"read_parquet('{_q(uri)}', hive_partitioning=false)"


def _names_table(names: list[str]) -> pa.Table:
    return pa.table({"name": pa.array(list(names), pa.string()), "id": pa.array(range(len(names)), pa.int32())})


def _blocks_in_point_order(blocks: list[tuple]) -> bool:
    """(point, rows, first row, last row) per point: each point's rows are one run of the
    file, and the runs follow each other in ascending point order."""
    runs = sorted(blocks, key=lambda b: b[2])
    expect_first = 0
    for i, (point, rows, first, last) in enumerate(runs):
        if point is None or first != expect_first or last - first + 1 != rows:
            return False
        if i and not runs[i - 1][0] < point:  # str order is UTF-8 byte order, as DuckDB sorts
            return False
        expect_first = last + 1
    return True


def ts_order_within_points(con: duckdb.DuckDBPyConnection, uri: str, starts: np.ndarray) -> tuple[bool, int]:
    """(ts non-decreasing within each point's run, equal adjacent ts within a run), streaming
    only the ts column; `starts` are the file rows where a point's run begins."""
    reader = con.sql(f"SELECT epoch_us(ts) FROM {_source(uri)}").to_arrow_reader(SCAN_BATCH_ROWS)
    sorted_ok, duplicates, offset, last_us = True, 0, 0, None
    for batch in reader:
        n = batch.num_rows
        if n == 0:
            continue
        us = batch.column(0).to_numpy(zero_copy_only=False)
        if last_us is not None:
            us = np.concatenate([[last_us], us])
            first_row = offset - 1
        else:
            first_row = offset
        step = np.diff(us)  # step[i]: row first_row + i -> first_row + i + 1
        within = np.ones(len(step), dtype=bool)
        cut = starts[(starts > first_row) & (starts <= first_row + len(step))] - first_row - 1
        within[cut] = False
        if (step[within] < 0).any():
            sorted_ok = False
        duplicates += int((step[within] == 0).sum())
        last_us, offset = us[-1], offset + n
    return sorted_ok, duplicates


def archive_facts_and_content(
    con: duckdb.DuckDBPyConnection, archive_uri: str, catalog_names: list[str], day: date
) -> tuple["ArchiveFacts", dict[str, "PointContent"]]:
    """`archive_facts` and `archive_content` of one file from one grouped pass over it (plus
    a scan of its ts column for the order within each point)."""
    start, end = day_window(day)
    src = f"read_parquet('{_q(archive_uri)}', hive_partitioning=false, file_row_number=true)"
    columns = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {_source(archive_uri)}").fetchall()}
    rows = con.execute(
        f"""SELECT point::VARCHAR, {_CONTENT_AGG},
                   count(*) FILTER (WHERE point IS NULL OR ts IS NULL OR value IS NULL OR isnan(value)),
                   count(*) FILTER (WHERE ts < ? OR ts >= ?),
                   min(file_row_number), max(file_row_number)
            FROM (SELECT point, ts, epoch_us(ts) - epoch_us(?::TIMESTAMPTZ) AS us, value, file_row_number FROM {src})
            GROUP BY point""",
        [start, end, start],
    ).fetchall()
    content = {r[0]: PointContent(*r[1:9]) for r in rows}
    per_point = {r[0]: r[1] for r in rows}
    blocks = [(r[0], r[1], r[11], r[12]) for r in rows]
    point_runs = sorted(((b[0], b[2], b[1]) for b in blocks), key=lambda r: r[1])  # (point, first row, rows)
    sorted_ok = _blocks_in_point_order(blocks)
    duplicates = 0
    if sorted_ok:
        starts = np.array([first for _, first, _ in point_runs], dtype=np.int64)
        sorted_ok, duplicates = ts_order_within_points(con, archive_uri, starts)
    if not sorted_ok:  # adjacency only finds every duplicate in a sorted file
        duplicates = con.execute(
            f"SELECT count(*) FROM (SELECT point, ts FROM {_source(archive_uri)} GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
    catalog = set(catalog_names)
    unknown = sorted(p for p in per_point if p not in catalog)
    facts = ArchiveFacts(
        rows=sum(per_point.values()),
        null_cells=sum(r[9] for r in rows),
        duplicate_keys=duplicates,
        outside_day=sum(r[10] for r in rows),
        points=sum(1 for p in per_point if p is not None),
        columns=columns,
        unknown_points=len(unknown),
        unknown_examples=unknown[:5],
        per_point_rows=per_point,
        sorted_ok=sorted_ok,
        point_runs=point_runs,
    )
    return facts, content


def archive_facts(con: duckdb.DuckDBPyConnection, archive_uri: str, catalog_names: list[str], day: date) -> ArchiveFacts:
    return archive_facts_and_content(con, archive_uri, catalog_names, day)[0]


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


def _raw_lookups(con: duckdb.DuckDBPyConnection, raw_uri: str, catalog_names: list[str], day: date) -> None:
    """Small lookup tables (catalog, valid distinct values, distinct times), so the raw file
    streams against them instead of every row being parsed or hashed on its own."""
    start, _ = day_window(day)
    words_true = ", ".join(f"'{w}'" for w in SQL_TRUE)
    words_false = ", ".join(f"'{w}'" for w in SQL_FALSE)
    con.register("bv_catalog_arrow", _names_table(catalog_names))
    con.execute("CREATE OR REPLACE TEMP TABLE bv_catalog AS SELECT * FROM bv_catalog_arrow")
    con.unregister("bv_catalog_arrow")
    # The distinct values first, on their own: the value rule then runs on those (as one
    # statement DuckDB evaluated it over the scan's rows, ~10x slower).
    con.execute(f"CREATE OR REPLACE TEMP TABLE bv_valid_values AS SELECT DISTINCT value FROM {_source(raw_uri)} "
                "WHERE value IS NOT NULL")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE bv_valid_values AS
            SELECT value,
                   CASE WHEN word IN ({words_true}) THEN 1.0
                        WHEN word IN ({words_false}) THEN 0.0
                        ELSE TRY_CAST(text AS DOUBLE) END AS num
            FROM (SELECT value, {TRIMMED} AS text, lower({TRIMMED}) AS word FROM bv_valid_values)
            WHERE word IN ({words_true}, {words_false})
               OR (regexp_full_match(word, '{SQL_NUMBER}') AND isfinite(TRY_CAST(text AS DOUBLE)))"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE bv_times AS
            SELECT time, {TIME_US} - epoch_us(?::TIMESTAMPTZ) AS us
            FROM (SELECT DISTINCT time FROM {_source(raw_uri)})""",
        [start],
    )


def _drop_raw_lookups(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP TABLE IF EXISTS bv_catalog; DROP TABLE IF EXISTS bv_valid_values; DROP TABLE IF EXISTS bv_times")


def _raw_rows_sql(raw_uri: str, day: date, *, with_row: bool = True) -> str:
    """Every valid sample of a collect-enabled point inside the day: (id, us, num[, row]);
    `row` (the file row, the order ACE sent them in) only when asked: it costs a column."""
    start, end = day_window(day)
    day_us = int((end - start).total_seconds()) * 1_000_000
    raw = f"read_parquet('{_q(raw_uri)}', hive_partitioning=false{', file_row_number=true' if with_row else ''})"
    return f"""SELECT c.id, t.us, v.num{', r.file_row_number AS row' if with_row else ''}
               FROM {raw} r
               JOIN bv_catalog c ON r.name = c.name
               JOIN bv_valid_values v ON r.value = v.value
               JOIN bv_times t ON r.time = t.time
               WHERE t.us >= 0 AND t.us < {day_us}"""


def _deduped_content(con: duckdb.DuckDBPyConnection, raw_uri: str, day: date) -> dict[str, PointContent]:
    rows = con.execute(
        f"""WITH last_sent AS (
                SELECT id, us, arg_max(num, row) AS value FROM ({_raw_rows_sql(raw_uri, day)}) GROUP BY id, us
            )
            SELECT c.name, {_CONTENT_AGG}
            FROM last_sent JOIN bv_catalog c USING (id)
            GROUP BY c.name"""
    ).fetchall()
    return {r[0]: PointContent(*r[1:]) for r in rows}


def _as_sent_content(con: duckdb.DuckDBPyConnection, raw_uri: str, day: date) -> dict[str, PointContent]:
    """Per point, every valid in-day sample as sent, duplicates and all (one cheap grouping
    by point instead of one by (point, ts))."""
    rows = con.execute(
        f"""SELECT c.name, {_CONTENT_AGG}
            FROM (SELECT id, us, num AS value FROM ({_raw_rows_sql(raw_uri, day, with_row=False)}))
            JOIN bv_catalog c USING (id)
            GROUP BY c.name"""
    ).fetchall()
    return {r[0]: PointContent(*r[1:]) for r in rows}


def expected_content(con: duckdb.DuckDBPyConnection, raw_uri: str, catalog_names: list[str], day: date) -> dict[str, PointContent]:
    """The archive re-derived from the raw file in SQL — a second implementation of the value
    rule, the day window, the catalog filter and "the last sample ACE sent wins" — per point."""
    _raw_lookups(con, raw_uri, catalog_names, day)
    try:
        return _deduped_content(con, raw_uri, day)
    finally:
        _drop_raw_lookups(con)


def reconciled_content(
    con: duckdb.DuckDBPyConnection, raw_uri: str, catalog_names: list[str], day: date,
    actual: dict[str, PointContent], archive_duplicates: int,
) -> dict[str, PointContent]:
    """`expected_content`, computed the cheap way when that is enough to judge `actual`.

    When the archive holds no duplicate (point, ts) and every point's raw samples as sent
    have exactly the archive's content (rows, sums, extremes, first/last, digest), the raw
    samples were the archive's rows, so they had no duplicates either and deduping them
    changes nothing: the as-sent content is the expected content. Otherwise (raw re-sends,
    or any difference) the full re-derivation with the dedupe decides."""
    _raw_lookups(con, raw_uri, catalog_names, day)
    try:
        if archive_duplicates == 0:
            as_sent = _as_sent_content(con, raw_uri, day)
            if not content_mismatches(as_sent, actual):
                return as_sent
        return _deduped_content(con, raw_uri, day)
    finally:
        _drop_raw_lookups(con)


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
