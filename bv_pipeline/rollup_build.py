"""Hourly rollups: one Parquet file per site-month with, per point and UTC hour, the
sample count, sum, min, max, first and last value.

A year of one point at 1 h is then 12 small reads instead of 365 day files. The file records
which archive days (and their byte sizes) it was built from, in its Parquet key-value
metadata; the query engine uses a day from the rollup only while that archive file is
unchanged, and reads the archive itself otherwise — a stale rollup is never served.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import orjson

from bv_store.days import month_days
from bv_store.duckdb_conn import duckdb_connect
from bv_store.layout import archive_key, rollup_key
from bv_store.publish import publish
from bv_store.schemas import ROLLUP_DAYS_META, ROLLUP_ROW_GROUP_ROWS
from bv_store.storage import Storage


class RollupError(RuntimeError):
    """The rollup could not be built; the message names the site and month."""


@dataclass
class RollupResult:
    site: str
    month: str
    uri: str | None
    days: list[str]
    rows: int
    samples: int
    points: int
    file_bytes: int

    def metadata(self) -> dict:
        return {
            "dagster/row_count": self.rows,
            "path": self.uri,
            "note": "" if self.uri else "no archived day in this month: no rollup file",
            "archived_days_used": len(self.days),
            "first_day": self.days[0] if self.days else "",
            "last_day": self.days[-1] if self.days else "",
            "samples_summarized": self.samples,
            "points": self.points,
            "bytes": self.file_bytes,
        }


def build_month_rollup(
    storage: Storage, site: str, month: str, *, memory_limit: str = "1GB", connect=None
) -> RollupResult:
    """Roll up the month's archived days; `connect(storage)` opens DuckDB (default: our own)."""
    connect = connect or (lambda st: duckdb_connect(st, memory_limit=memory_limit))
    sizes = {}
    for day in month_days(month):
        size = storage.size(archive_key(site, day))
        if size is not None:
            sizes[day.isoformat()] = size
    key = rollup_key(site, month)
    if not sizes:
        # Nothing archived this month: no file (an old rollup would be stale, so it goes).
        storage.delete(key)
        return RollupResult(site, month, None, [], 0, 0, 0, 0)
    files = [storage.uri(archive_key(site, date.fromisoformat(d))) for d in sorted(sizes)]
    meta = orjson.dumps(sizes).decode().replace("'", "''")
    counts = {}

    def write(scratch) -> None:
        with connect(storage) as con:
            con.execute(
                f"""
                COPY (
                  SELECT point::VARCHAR AS point, time_bucket(INTERVAL '1 hour', ts) AS hour,
                         count(*) AS "count", sum(value) AS "sum", min(value) AS "min", max(value) AS "max",
                         arg_min(value, ts) AS "first", arg_max(value, ts) AS "last"
                  FROM read_parquet($files, hive_partitioning=false)
                  GROUP BY ALL ORDER BY point, hour
                ) TO '{scratch}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROLLUP_ROW_GROUP_ROWS},
                                  KV_METADATA {{{ROLLUP_DAYS_META}: '{meta}'}})
                """,
                {"files": files},
            )
            counts["rows"], counts["samples"], counts["points"] = con.execute(
                "SELECT count(*), coalesce(sum(\"count\"), 0), count(DISTINCT point) FROM read_parquet(?)", [str(scratch)]
            ).fetchone()
        if counts["rows"] == 0:
            raise RollupError(f"rollup of {site} {month} from {len(files)} archive files has no rows")

    try:
        done = publish(storage, key, write, expect_rows=lambda: counts["rows"], what=f"hourly_rollup {site} {month}")
    except RollupError:
        raise
    except Exception as exc:
        raise RollupError(f"rollup of {site} {month} failed: {exc}") from exc
    return RollupResult(site, month, done.uri, sorted(sizes), int(counts["rows"]), int(counts["samples"]),
                        int(counts["points"]), done.file_bytes)
