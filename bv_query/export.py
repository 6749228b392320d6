"""Raw CSV exports streamed one UTC day at a time, so a year of 100 points (52 M rows, ~4 GB
of CSV) never sits in the server's memory: each day is one DuckDB query over that day's
archive file (or live parts), sorted, and written out as CSV chunks.

Rows come in time order, ties by point: days are disjoint, so ordering each day by
(ts, point) orders the whole export. Everything that can be refused (parameters, site,
listing) is refused before the first byte; a storage failure after that aborts the
response (the chunked body never ends), so a client can never take a cut export for a
whole one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import duckdb
import pyarrow as pa

from bv_query import render, sql
from bv_query.engine import QueryEngine
from bv_query.params import QueryRequest
from bv_query.sources import SourcePlan
from bv_store.storage import StorageError

BATCH_ROWS = 65_536  # rows per CSV chunk (about 5 MB of CSV)


def streams(request: QueryRequest) -> bool:
    """Raw samples without M4 downsampling are exported day by day; the rest is small or
    needs the whole result (buckets, fills, downsampling) and goes through the engine."""
    return request.interval == "raw" and request.max_points is None


@dataclass
class RawCsvExport:
    engine: QueryEngine
    request: QueryRequest
    plan: SourcePlan

    @classmethod
    def open(cls, engine: QueryEngine, request: QueryRequest) -> "RawCsvExport":
        """Check the site and plan the files now, while an error can still be a 4xx/503."""
        engine._check_site(request.site)
        return cls(engine, request, _plan(engine, request))

    @property
    def source(self) -> str:
        return self.plan.source

    def chunks(self) -> Iterator[bytes]:
        """The CSV body: the header, then each day's rows in batches."""
        yield render.CSV_HEADER
        for day in sorted(set(self.plan.archive) | set(self.plan.live)):
            yield from self._day(day)

    def _day(self, day) -> Iterator[bytes]:
        cur = self.engine._con.cursor()
        try:
            try:
                reader = _day_rows(cur, self.request, self.plan, day)
            except (StorageError, OSError, duckdb.IOException):
                # The day's file went away between planning and reading (day close,
                # re-materialization): list again and read what holds the day now, once.
                self.engine.index.invalidate()
                reader = _day_rows(cur, self.request, _plan(self.engine, self.request), day)
            # One day of the asked points (at most max_point_count x a day of samples) is
            # sorted here: Arrow sorts it several times faster than DuckDB's ORDER BY.
            rows = reader.sort_by([("ts", "ascending"), ("point", "ascending")])
            for offset in range(0, rows.num_rows, BATCH_ROWS):
                yield render.csv_rows(rows.slice(offset, BATCH_ROWS))
        finally:
            cur.close()


def _plan(engine: QueryEngine, request: QueryRequest) -> SourcePlan:
    cur = engine._con.cursor()
    try:
        return engine.index.plan(cur, request.site, request.start, request.end, use_rollup=False)
    finally:
        cur.close()


def _day_rows(cur, request: QueryRequest, plan: SourcePlan, day) -> pa.Table:
    one_day = SourcePlan(archive={day: plan.archive[day]} if day in plan.archive else {},
                         live={day: plan.live[day]} if day in plan.live else {})
    params: dict = {}
    detail = sql.detail_sql(one_day, request.points, params)
    if detail is None:  # gone from the store since the plan: a gap, as in any query
        return render.CSV_SOURCE_SCHEMA.empty_table()
    params.update(start=request.start, end=request.end)
    return cur.execute(f"SELECT point, ts, value FROM ({detail})", params).to_arrow_table()
