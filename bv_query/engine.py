"""QueryEngine: chart queries over the materialized partitions (rollup ∪ archive ∪ live).

    engine = QueryEngine(Storage.from_url("/data/bv"))
    result = engine.query("ses_falls_city", ["…/analogValue/102"], "2025-06-01", "2025-06-08", interval="1h")
    result.table        # pyarrow: point (string), ts (timestamp UTC), value (double)
    result.to_pandas()
    result.metadata     # source, rows, files_read, interval, unknown_points, query_time_ms, …

Per UTC day the engine reads the hourly rollup (whole days, hour-or-coarser buckets), else
the archive file, else the live store (not yet archived), else nothing: a missing day is a
gap, not an error. Only that site's files for those days are read.

Two readers give the same content: on local storage, raw samples of archived days and UTC
buckets without fill are read directly with pyarrow (`fast_path.py` over `direct.py`: the
few row groups holding the points, no SQL planning); everything else — live days, other
time zones, fills, M4, remote storage — is SQL in DuckDB (`sql.py`). `metadata["reader"]`
says which answered; `QueryEngine(storage, direct=False)` always uses DuckDB.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bv_query import fast_path
from bv_query.cache import PointDayCache
from bv_query.direct import BlockCache, DirectReader
from bv_query.errors import QueryError, UnknownSite
from bv_query.params import QueryRequest
from bv_query.point_search import PointInfo, point_infos, search_points
from bv_query.sources import SourceIndex, SourcePlan, _TtlCache
from bv_query import sql
from bv_config.settings import Settings
from bv_store.layout import validate_site_name
from bv_store.storage import LocalStorage, Storage, StorageError
from bv_store.catalog import read_catalog_table
from bv_store.layout import points_key, site_of_key

ROLLUP_INTERVALS = ("1h", "1d")
RESULT_SCHEMA = pa.schema([("point", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("value", pa.float64())])


@dataclass
class QueryResult:
    request: QueryRequest
    table: pa.Table
    metadata: dict = field(default_factory=dict)

    def to_pandas(self):
        return self.table.to_pandas()


class QueryEngine:
    def __init__(
        self,
        storage: Storage,
        *,
        max_point_count: int = 100,
        max_range_days: int = 365,
        listing_ttl_s: float = 5.0,
        catalog_ttl_s: float = 30.0,
        threads: int | None = None,
        memory_limit: str | None = None,
        cache_mb: float = 256,
        direct: bool = True,
    ):
        self.storage = storage
        self.max_point_count = max_point_count
        self.max_range_days = max_range_days
        self.index = SourceIndex(storage, listing_ttl_s=listing_ttl_s)
        self._catalogs = _TtlCache(catalog_ttl_s)
        self._duckdb = None
        self._duckdb_options = dict(threads=threads, memory_limit=memory_limit)
        self._lock = threading.Lock()
        budget = int(cache_mb * 1024 * 1024)
        # Local files are read directly by pyarrow for the common shapes (fast_path.py), with
        # decoded row-group columns in `blocks`; the rest (and remote storage) goes through
        # DuckDB, with archive point-days in `cache`. `direct=False` forces the DuckDB path.
        self._direct = DirectReader(BlockCache(budget)) if direct and isinstance(storage, LocalStorage) else None
        self.cache = PointDayCache(0 if self._direct else budget)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs) -> "QueryEngine":
        """An engine over the configured storage, with the configured query limits."""
        settings = settings or Settings.load()
        options = dict(
            max_point_count=settings.query_max_points,
            max_range_days=settings.query_max_days,
            cache_mb=settings.query_cache_mb,
            threads=settings.query_threads or None,
            memory_limit=f"{round(settings.query_memory_mb)}MiB" if settings.query_memory_mb else None,
        )
        options.update(kwargs)
        return cls(Storage.from_url(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url), **options)

    # -- catalog -------------------------------------------------------------------------
    def catalog(self, site: str) -> list[PointInfo] | None:
        """The site's points (None when it has no catalog yet)."""

        def load():
            if not self.storage.exists(points_key(site)):
                return None
            return point_infos(read_catalog_table(self.storage, site))

        return self._catalogs.get(site, load)

    def catalog_names(self, site: str) -> frozenset | None:
        """The catalog's point names (None without a catalog): only the `name` column, read
        without the search index `catalog` builds, so a query never waits for that."""

        def load():
            key = points_key(site)
            if not self.storage.exists(key):
                return None
            with self.storage.local_copy(key) as path:
                names = pq.ParquetFile(path).read(columns=["name"], use_threads=False).column("name")
            return frozenset(names.to_pylist())

        return self._catalogs.get(("names", site), load)

    def sites(self) -> list[dict]:
        names = set()
        for prefix in ("points/", "archive/", "live/"):
            for key in self.storage.list_sizes(prefix):
                site = site_of_key(key)
                if site:
                    names.add(site)
        out = []
        for name in sorted(names):
            days = sorted(self.index.archive_days(name))
            catalog = self.catalog(name)
            out.append(
                {
                    "name": name,
                    "points": len(catalog) if catalog is not None else None,
                    "first_day": days[0].isoformat() if days else None,
                    "last_day": days[-1].isoformat() if days else None,
                    "live_days": [d.isoformat() for d in self.index.live_days(name)],
                }
            )
        return out

    def search_points(self, site: str, q: str | None = None, tag: str | None = None) -> list[PointInfo]:
        self._check_site(site)
        infos = self.catalog(site)
        if infos is None:
            raise QueryError("site", f"site {site!r} has no point catalog yet: materialize ace_points for it")
        return search_points(infos, q, tag)

    def _check_site(self, site: str) -> None:
        try:
            validate_site_name(site)
        except ValueError as exc:
            raise QueryError("site_name", str(exc)) from None
        if not self.index.site_exists(site):
            raise UnknownSite(site)

    # -- queries -------------------------------------------------------------------------
    def query(self, site: str, points, start, end, **options) -> QueryResult:
        request = QueryRequest.parse(
            site, points, start, end, max_point_count=self.max_point_count,
            max_range_days=self.max_range_days, **options,
        )
        return self.run(request)

    def run(self, request: QueryRequest) -> QueryResult:
        began = time.perf_counter()
        self._check_site(request.site)
        try:
            table, plan, before_m4, reader = self._execute(request)
        except retryable_errors():
            # A file went away between listing and reading (day close, re-materialization):
            # list again and retry once; a second failure is real and propagates.
            self.index.invalidate()
            table, plan, before_m4, reader = self._execute(request)
        known = self.catalog_names(request.site)
        found = set(pc.unique(table.column("point")).to_pylist()) if table.num_rows else set()
        unknown = [p for p in request.points if known is not None and p not in known and p not in found]
        return QueryResult(
            request=request,
            table=table,
            metadata={
                "source": plan.source,
                "reader": reader,
                "rows": table.num_rows,
                "files_read": plan.files_read,
                "interval": request.interval,
                "requested_interval": request.requested_interval,
                "agg": request.agg if request.interval != "raw" else None,
                "tz": str(request.tz),
                "fill": request.fill if request.interval != "raw" else None,
                "downsampled": table.num_rows != before_m4,
                "unknown_points": unknown,
                "days_archived": len(plan.archive) + len(plan.rollup_days),
                "days_from_rollup": len(plan.rollup_days),
                "days_live": len(plan.live),
                "days_missing": len(plan.missing),
                "start_time": int(request.start.timestamp() * 1000),
                "end_time": int(request.end.timestamp() * 1000),
                "query_time_ms": round((time.perf_counter() - began) * 1000, 2),
            },
        )

    def _rollup_allowed(self, request: QueryRequest) -> bool:
        if request.interval not in ROLLUP_INTERVALS:
            return False
        # Hourly rollups are UTC hours: usable when every local hour boundary is a UTC one.
        if getattr(request.tz, "key", None) == "UTC":
            return True
        moment = request.start
        while moment <= request.end:
            if request.tz.utcoffset(moment.replace(tzinfo=None)).total_seconds() % 3600:
                return False
            moment += timedelta(days=1)
        return True

    def _execute(self, request: QueryRequest):
        """(table, plan, rows before M4, reader): "direct" (pyarrow over local files),
        "duckdb", or "direct+duckdb" (archive days direct, live days through DuckDB)."""
        cur = None
        try:
            if self._direct is None:  # remote rollup footers are read through DuckDB
                cur = self._con.cursor()
            plan = self.index.plan(
                cur, request.site, request.start, request.end, use_rollup=self._rollup_allowed(request)
            )
            known = self.catalog_names(request.site)
            grid_points = [p for p in request.points if known is None or p in known]
            table, reader = None, "duckdb"
            if self._direct is not None:
                table = fast_path.answer(self._direct, request, plan, grid_points)
                reader = "direct"
            if table is None:
                reader = "duckdb"
                cur = cur or self._con.cursor()
                if request.interval == "raw":
                    table, reader = self._raw(cur, request, plan)
                else:
                    params: dict = {}
                    detail = sql.detail_sql(plan, request.points, params)
                    rollup = sql.rollup_sql(plan, request.points, params)
                    text = sql.bucket_query(detail, rollup, request.interval, request.agg, request.fill, str(request.tz), grid_points)
                    if "$start" in text:
                        params.update(start=request.start, end=request.end)
                    table = _fetch(cur, text, params)
            before_m4 = table.num_rows
            if request.max_points and table.num_rows > request.max_points:
                cur = cur or self._con.cursor()
                table = self._downsample(cur, table, request)
            if not table.schema.equals(RESULT_SCHEMA):
                table = table.cast(RESULT_SCHEMA)
            return table, plan, before_m4, reader
        finally:
            if cur is not None:
                cur.close()

    def _raw(self, cur, request: QueryRequest, plan: SourcePlan) -> tuple[pa.Table, str]:
        """Raw samples: archive point-days read directly (local) or through the cache, the
        rest through DuckDB."""
        if self._direct is not None and plan.archive:
            try:
                stored = fast_path.raw(self._direct, request, SourcePlan(archive=plan.archive))
            except fast_path.NotDirect:
                stored = None
            if stored is not None:
                params: dict = {}
                detail = sql.detail_sql(SourcePlan(live=plan.live), request.points, params)
                parts = [stored]
                if detail is not None:
                    params.update(start=request.start, end=request.end)
                    parts.append(_fetch(cur, sql.raw_query(detail), params).cast(RESULT_SCHEMA))
                table = pa.concat_tables(parts) if len(parts) > 1 else stored
                return table.sort_by([("point", "ascending"), ("ts", "ascending")]), "direct+duckdb"
        return self._raw_duckdb(cur, request, plan), "duckdb"

    def _raw_duckdb(self, cur, request: QueryRequest, plan: SourcePlan) -> pa.Table:
        sizes = self.index.archive_days(request.site)
        cached_days = {}
        if self.cache.enabled and len(plan.archive) * len(request.points) <= MAX_CACHED_PAIRS:
            cached_days = {d: (u, sizes[d]) for d, u in plan.archive.items() if d in sizes}
        parts = []
        misses = [(u, n, p) for u, n in cached_days.values() for p in request.points if self.cache.get((u, n, p)) is None]
        if misses:
            self._fill_cache(cur, misses)
        lo = pa.scalar(request.start, pa.timestamp("us", tz="UTC"))
        hi = pa.scalar(request.end, pa.timestamp("us", tz="UTC"))
        for uri, size in cached_days.values():
            for point in request.points:
                day = self.cache.get((uri, size, point))
                if day is None:  # evicted between fill and read: read it again
                    self._fill_cache(cur, [(uri, size, point)])
                    day = self.cache.get((uri, size, point)) or _empty_point_day()
                ts = day.column("ts")
                mask = pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi))
                kept = day.filter(mask)
                if kept.num_rows:
                    parts.append(pa.table({"point": pa.array([point] * kept.num_rows, pa.string()),
                                           "ts": kept.column("ts"), "value": kept.column("value")}))
        rest = SourcePlan(archive={d: u for d, u in plan.archive.items() if d not in cached_days}, live=plan.live)
        params: dict = {}
        detail = sql.detail_sql(rest, request.points, params)
        if detail is not None:
            params.update(start=request.start, end=request.end)
            parts.append(_fetch(cur, sql.raw_query(detail), params).cast(RESULT_SCHEMA))
        if not parts:
            return RESULT_SCHEMA.empty_table()
        table = pa.concat_tables([t.cast(RESULT_SCHEMA) for t in parts])
        return table.sort_by([("point", "ascending"), ("ts", "ascending")])

    def _fill_cache(self, cur, misses: list[tuple[str, int, str]]) -> None:
        """Decode whole row-group blocks around the missing point-days and cache every point in
        them: points of one device sort together, so their neighbours are the next asks."""
        blocks, wanted = set(), set()
        for uri, size, point in misses:
            wanted.add((uri, size, point))
            for lo, hi in self._point_ranges(cur, uri, size):
                if lo <= point <= hi:
                    blocks.add((uri, size, lo, hi))
        for uri, size, lo, hi in sorted(blocks):
            # All rows of every point in [lo, hi], neighbour row groups included: complete point-days.
            rows = _fetch(
                cur,
                "SELECT point::VARCHAR AS point, ts, value FROM read_parquet($f, hive_partitioning=false) "
                "WHERE point >= $lo AND point <= $hi",
                {"f": uri, "lo": lo, "hi": hi},
            )
            for point, day in _split_by_point(rows):
                self.cache.put((uri, size, point), day)
                wanted.discard((uri, size, point))
        for key in wanted:  # not in the file: remember that too
            self.cache.put(key, _empty_point_day())

    def _point_ranges(self, cur, uri: str, size: int) -> list[tuple[str, str]]:
        def load():
            return cur.execute(
                "SELECT stats_min_value, stats_max_value FROM parquet_metadata(?) "
                "WHERE path_in_schema = 'point' ORDER BY row_group_id", [uri]
            ).fetchall()

        return self._catalogs.get(("ranges", uri, size), load)

    def _downsample(self, cur, table: pa.Table, request: QueryRequest) -> pa.Table:
        counts = table.group_by("point").aggregate([("point", "count")]).column("point_count").to_pylist()
        if max(counts) <= request.max_points:
            return table
        cur.register("result_rows", table)
        try:
            start_us = int(request.start.timestamp() * 1_000_000)
            end_us = int(request.end.timestamp() * 1_000_000)
            return _fetch(cur, sql.m4_query("result_rows", start_us, end_us, request.max_points), {})
        finally:
            cur.unregister("result_rows")

    @property
    def _con(self):
        """The DuckDB connection, opened on first use: the direct path and a fresh server's
        first answers never import or start DuckDB."""
        if self._duckdb is None:
            with self._lock:
                if self._duckdb is None:
                    from bv_store.duckdb_conn import duckdb_connect

                    con = duckdb_connect(self.storage, **self._duckdb_options)
                    # Footers of files read before are reused (archive files never change in place).
                    con.execute("SET parquet_metadata_cache = true")
                    self._duckdb = con
        return self._duckdb

    def close(self) -> None:
        if self._duckdb is not None:
            self._duckdb.close()


def retryable_errors() -> tuple:
    """A file went away under a read: storage and OS errors, and DuckDB's IO error once
    DuckDB is loaded (it is imported lazily, so it cannot have raised before that)."""
    import sys

    duckdb = sys.modules.get("duckdb")
    return (StorageError, OSError) + ((duckdb.IOException,) if duckdb is not None else ())


MAX_CACHED_PAIRS = 64  # (day file, point) pairs a raw query serves through the cache


def _split_by_point(rows: pa.Table):
    """(point, table of ts/value) per point; rows arrive grouped by point (the file's order)."""
    if rows.num_rows == 0:
        return
    codes = rows.column("point").combine_chunks().dictionary_encode()
    idx = codes.indices.to_numpy(zero_copy_only=False)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(idx)) + 1))
    if len(starts) != len(codes.dictionary):  # not grouped after all (parallel scan): sort, then split
        yield from _split_by_point(rows.sort_by([("point", "ascending"), ("ts", "ascending")]))
        return
    ends = np.append(starts[1:], len(idx))
    body = rows.select(["ts", "value"]).combine_chunks()
    names = codes.dictionary.to_pylist()
    for a, b in zip(starts.tolist(), ends.tolist()):
        yield names[idx[a]], body.slice(a, b - a)


def _empty_point_day() -> pa.Table:
    return pa.table({"ts": pa.array([], pa.timestamp("us", tz="UTC")), "value": pa.array([], pa.float64())})


def _fetch(cur, text: str, params: dict) -> pa.Table:
    return cur.execute(text, params).to_arrow_table()
