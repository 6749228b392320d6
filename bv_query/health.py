"""Point health over HTTP: reading the `health/` files that the point_health asset writes.

    GET /sites/{site}/health?date=YYYY-MM-DD
        {"site", "date", "summary": {"ok", "degraded", "dead"}, "points": [{"point", "display_name",
         "unit", "status", "reason", "samples", "expected", "longest_gap_s", "stale", "flatline",
         "out_of_range", "spikes"}]}       worst first (dead, then degraded by severity, then ok)
        no `date`: the newest day with a health file; 404 {"error"} when there is none
    GET /sites/{site}/health?point=NAME&start=YYYY-MM-DD&end=YYYY-MM-DD
        {"site", "point", "days": [{"date", "status", "reason"}]}    days with a health file,
        start and end both included (default: every stored day, at most BV_QUERY_MAX_DAYS)
    GET /sites/{site}/points?status=ok|degraded|dead
        the point search, kept to points with that status in the newest health file

The files are written by bv_pipeline.point_health (this room does not import it); the layout
and schema come from bv_store.
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import Query, Request

from bv_query.auth import KeyRing
from bv_query.engine import retryable_errors
from bv_query.errors import QueryError
from bv_query.point_search import PointInfo, unit_symbol
from bv_query.sources import _TtlCache
from bv_store.layout import health_key, health_site_prefix, parse_health_key
from bv_store.schemas import HEALTH_STATUSES
from bv_store.storage import Storage

POINT_FIELDS = ("samples", "expected", "longest_gap_s", "stale", "flatline", "out_of_range", "spikes")
STATUS_RANK = {"dead": 0, "degraded": 1, "ok": 2}
LISTING_TTL_S = 5.0  # a new health file shows within this long (as new archive days do)


class NoHealth(QueryError):
    """No health file answers the request: 404."""

    status = 404


def _cache(engine) -> _TtlCache:
    """The engine's cache of health listings and files (kept on the engine, one per server)."""
    cache = getattr(engine, "_health_cache", None)
    if cache is None:
        cache = engine._health_cache = _TtlCache(LISTING_TTL_S)
    return cache


def health_days(engine, site: str) -> dict[date, int]:
    """day -> file size of every stored health file of the site (listing cached a few seconds)."""
    storage: Storage = engine.storage

    def load():
        out = {}
        for key, size in storage.list_sizes(health_site_prefix(site)).items():
            parsed = parse_health_key(key)
            if parsed is not None and parsed.site == site:
                out[parsed.day] = size
        return out

    return _cache(engine).get(("days", site), load)


def read_health(engine, site: str, day: date) -> pa.Table | None:
    """One day's health table (None when there is no file); cached by file size."""
    storage: Storage = engine.storage
    size = health_days(engine, site).get(day)
    if size is None:
        return None

    def load():
        key = health_key(site, day)
        if not storage.exists(key):
            return None
        with storage.local_copy(key) as path:
            return pq.read_table(path)

    return _cache(engine).get(("table", site, day, size), load)


def parse_day(value: str | None, name: str) -> date | None:
    if value is None or not str(value).strip():
        return None
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise QueryError(name, f"{name}={value!r} is not a YYYY-MM-DD date") from None


def parse_status(value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    status = str(value).strip().lower()
    if status not in HEALTH_STATUSES:
        raise QueryError("status", f"status={value!r}: use one of {', '.join(HEALTH_STATUSES)}")
    return status


def _display(info: PointInfo | None, name: str) -> str:
    return info.display_name if info is not None else " ".join(name.split("/")[-2:])


def day_report(engine, site: str, day: date | None) -> dict:
    """The GET /sites/{site}/health?date= answer."""
    engine._check_site(site)
    days = health_days(engine, site)
    if day is None:
        if not days:
            raise NoHealth("date", f"no point health for site {site!r} yet: materialize point_health")
        day = max(days)
    table = read_health(engine, site, day)
    if table is None:
        raise NoHealth("date", f"no point health for site {site!r} on {day.isoformat()}")
    infos = {i.name: i for i in (engine.catalog(site) or [])}
    rows = table.select(["point", "status", "reason", "severity", "unit", *POINT_FIELDS]).to_pylist()
    rows.sort(key=lambda r: (STATUS_RANK.get(r["status"], 3), -(r["severity"] or 0), r["point"]))
    summary = {s: 0 for s in HEALTH_STATUSES}
    points = []
    for r in rows:
        summary[r["status"]] = summary.get(r["status"], 0) + 1
        info = infos.get(r["point"])
        unit = info.unit_symbol if info is not None and info.unit else unit_symbol(r["unit"])
        points.append({
            "point": r["point"], "display_name": _display(info, r["point"]), "unit": unit,
            "status": r["status"], "reason": r["reason"] or "",
            "samples": int(r["samples"]), "expected": None if r["expected"] is None else int(r["expected"]),
            "longest_gap_s": float(r["longest_gap_s"]), "stale": bool(r["stale"]), "flatline": bool(r["flatline"]),
            "out_of_range": int(r["out_of_range"]), "spikes": int(r["spikes"]),
        })
    return {"site": site, "date": day.isoformat(), "summary": summary, "points": points}


def point_days(engine, site: str, point: str, start: date | None, end: date | None) -> dict:
    """The GET /sites/{site}/health?point=&start=&end= answer: one entry per stored day."""
    engine._check_site(site)
    if not point.strip():
        raise QueryError("point", "point is empty")
    days = health_days(engine, site)
    if start and end and end < start:
        raise QueryError("end", f"end {end} is before start {start}")
    end = end or (max(days) if days else start or date.today())
    start = start or max(min(days) if days else end, end - timedelta(days=engine.max_range_days - 1))
    if (end - start).days + 1 > engine.max_range_days:
        raise QueryError("start", f"at most {engine.max_range_days} days per request (BV_QUERY_MAX_DAYS)")
    wanted = sorted(d for d in days if start <= d <= end)
    try:
        found = _point_rows(engine, site, point, wanted)
    except retryable_errors():
        # A file was replaced or removed since the cached listing: list again, retry once.
        _cache(engine).clear()
        days = health_days(engine, site)
        found = _point_rows(engine, site, point, sorted(d for d in days if start <= d <= end))
    return {"site": site, "point": point,
            "days": [{"date": d, "status": s, "reason": r or ""} for d, s, r in found]}


def _point_rows(engine, site: str, point: str, days: list[date]) -> list[tuple]:
    if not days:
        return []
    uris = [engine.storage.uri(health_key(site, d)) for d in days]
    cur = engine._con.cursor()  # the engine's DuckDB (storage credentials already set)
    try:
        return cur.execute(
            "SELECT date::VARCHAR, status, reason FROM read_parquet($files, hive_partitioning=true) "
            "WHERE point = $point ORDER BY date", {"files": uris, "point": point},
        ).fetchall()
    finally:
        cur.close()


def filter_by_status(engine, site: str, found: list[PointInfo], status: str | None) -> list[PointInfo]:
    """Keep the points whose status in the site's newest health file is `status`."""
    status = parse_status(status)
    if status is None:
        return found
    days = health_days(engine, site)
    table = read_health(engine, site, max(days)) if days else None
    if table is None:
        raise NoHealth("status", f"no point health for site {site!r} yet: status cannot filter")
    names = {p for p, s in zip(table.column("point").to_pylist(), table.column("status").to_pylist()) if s == status}
    return [info for info in found if info.name in names]


def register_routes(app) -> None:
    """GET /sites/{site}/health on the query API (auth and errors as every site endpoint)."""
    engine, keys = app.state.engine, app.state.keys

    @app.get("/sites/{site}/health", summary="Point health of a day, or of one point over days")
    def site_health(
        request: Request,
        site: str,
        date: str | None = Query(None, description="YYYY-MM-DD (default: the newest day with a health file)"),
        point: str | None = Query(None, description="a point name: its status per day instead"),
        start: str | None = Query(None, description="with point: first day, YYYY-MM-DD"),
        end: str | None = Query(None, description="with point: last day, YYYY-MM-DD, included"),
    ):
        key = keys.authenticate(request.headers.get("authorization"))
        KeyRing.check_site(key, site)
        if point is not None:
            return point_days(engine, site, point, parse_day(start, "start"), parse_day(end, "end"))
        return day_report(engine, site, parse_day(date, "date"))
