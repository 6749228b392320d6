"""`bv status`: the archive as any engine sees it (DuckDB over the hive layout)."""

from __future__ import annotations

from bv_store.duckdb_conn import duckdb_connect
from bv_config.settings import Settings
from bv_store.storage import Storage


def archive_summary(storage: Storage) -> list[tuple]:
    if not storage.list("archive/"):
        return []
    with duckdb_connect(storage) as con:
        return con.execute(
            f"""SELECT site, date, count(*) AS rows, count(DISTINCT point) AS points,
                       min(ts) AS first_ts, max(ts) AS last_ts
                FROM read_parquet('{storage.uri("archive")}/**/*.parquet', hive_partitioning=true)
                GROUP BY site, date ORDER BY site, date"""
        ).fetchall()


def print_archive_summary(settings: Settings) -> int:
    storage = Storage.from_url(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    rows = archive_summary(storage)
    print(f"archive at {storage.uri('archive')}")
    if not rows:
        print("  (empty: nothing archived yet)")
        return 1
    print(f"  {'site':<16} {'date':<10} {'rows':>10} {'points':>7}  first ts -> last ts (UTC)")
    for site, day, count, points, first, last in rows:
        print(f"  {site:<16} {str(day):<10} {count:>10,} {points:>7}  {first:%H:%M:%S} -> {last:%H:%M:%S}")
    total = sum(r[2] for r in rows)
    print(f"  {len(rows)} site-days, {total:,} samples")
    return 0
