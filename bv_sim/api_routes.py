"""The /api route table: sites, points, timeseries (paginated and not) and weather;
/clients and /gateways are in `bv_sim.fleet_routes`.

Also the paging rules ACE enforces (`PER_PAGE_ALLOWED` in `bv_sim.params`, `PAGE_SIZE_ALLOWED`,
defaults). Each route takes the `SimServer` and the parsed `Request` and returns a `Response`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from bv_sim import fault_decisions as fd
from bv_sim import fleet_routes
from bv_sim.buckets import bucket_floor, bucket_page
from bv_sim.httpd import ApiError, Request, Response, json_response
from bv_sim.params import DEFAULT_PER_PAGE, PER_PAGE_ALLOWED  # noqa: F401 - the paging rules, re-exported
from bv_sim.params import optional_time, paged, parse_time
from bv_sim.params import flag as _flag
from bv_sim.sites import Site
from bv_sim.timeseries import CursorError, decode_cursor, to_us

if TYPE_CHECKING:
    from bv_sim.server import SimServer

PAGE_SIZE_ALLOWED = (3, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000, 300000, 500000)
DEFAULT_PAGE_SIZE = 10000
MAX_UNPAGED_SAMPLES = 1_000_000  # the non-paginated relatives refuse bigger windows

NOT_FOUND = "The requested URL was not found on the server."


# ---------------------------------------------------------------- routing
def handle(sim: "SimServer", req: Request) -> Response:
    """Route one authenticated /api request (its path after /api)."""
    method, segs = req.method, req.segs
    while segs and segs[-1] == "":
        segs = segs[:-1]  # "/sites/" and "/sites" are the same route
    if method == "GET" and segs == ["sites"]:
        return list_sites(sim, req)
    if segs[:1] in (["clients"], ["gateways"]):
        return fleet_routes.handle(sim, req, segs)
    if segs[:1] == ["sites"] and len(segs) >= 2:
        site = sim.site_or_none(segs[1])
        if site is None:
            raise ApiError(404, f"Site {segs[1]} not found")
        route = SITE_ROUTES.get((method, tuple(segs[2:])))
        if route is not None:
            return route(sim, site, req)
    if segs[:1] == ["points"]:
        if method == "GET" and segs == ["points"]:
            return list_points(sim, req)
        if method == "POST" and segs == ["points", "get_timeseries"]:
            return get_timeseries(sim, req)
        if method == "GET" and len(segs) == 3 and segs[2] == "timeseries":
            site, idx = _point(sim, segs[1])
            return _unpaged(sim, site, [idx], req.query)
        if method == "GET" and len(segs) == 2:
            site, idx = _point(sim, segs[1])
            return json_response(200, site.points()[idx])
    raise ApiError(404, NOT_FOUND)


def _point(sim: "SimServer", name: str) -> tuple[Site, int]:
    found = sim.find_point(name)
    if found is None:
        raise ApiError(404, f"Point {name} not found")
    return found


# ---------------------------------------------------------------- catalog
def list_sites(sim: "SimServer", req: Request) -> Response:
    q = req.query
    sites = [s for s in sim.sites.values()
             if (_flag(q.get("show_archived")) or not s.spec.archived)
             and (not _flag(q.get("collect_enabled")) or s.has_configured_points)]
    return paged([s.site_dict() for s in sites], q)


def list_points(sim: "SimServer", req: Request) -> Response:
    """Every point of every site the token sees (archived sites included), site by site."""
    return paged([p for s in sim.sites.values() for p in s.points()], req.query)


_POINT_FILTERS = (("created_after", "created", 1), ("created_before", "created", -1),
                  ("updated_after", "updated", 1), ("updated_before", "updated", -1))


def _point_filters(points: list[dict], q: dict) -> list[dict]:
    """created_after / created_before / updated_after / updated_before: ISO 8601, inclusive."""
    for arg, key, sign in _POINT_FILTERS:
        bound = optional_time(q, arg)
        if bound is not None:
            points = [p for p in points if p.get(key) and sign * (parse_time(p[key], key) - bound) >= 0]
    return points


def site_detail(sim: "SimServer", site: Site, req: Request) -> Response:
    return json_response(200, site.site_dict())


def site_points(sim: "SimServer", site: Site, req: Request) -> Response:
    return paged(_point_filters(site.points(), req.query), req.query)


def site_configured_points(sim: "SimServer", site: Site, req: Request) -> Response:
    return paged(_point_filters(site.configured_points(), req.query), req.query)


# ---------------------------------------------------------------- timeseries
def _window(sim: "SimServer", q: dict) -> tuple[int, int, int]:
    start = parse_time(q.get("start_time"), "start_time")
    end = parse_time(q.get("end_time"), "end_time")
    if end < start:
        raise ApiError(400, "end_time must not be before start_time")
    now = to_us(sim.clock.now())
    return start, end, min(end, now)  # samples exist only before the clock's now


def timeseries_paginated(sim: "SimServer", site: Site, req: Request) -> Response:
    q, faults = req.query, sim.faults
    try:
        page_size = int(q.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        raise ApiError(400, "page_size must be an integer") from None
    if page_size not in PAGE_SIZE_ALLOWED:
        raise ApiError(400, f"page_size must be one of {list(PAGE_SIZE_ALLOWED)}")
    if not _flag(q.get("raw_data")):
        if not sim.serve_buckets:
            # Documented deviation: by default the simulator serves raw samples only (this
            # project never asks for 5-minute buckets); SimServer(serve_buckets=True) serves them.
            raise ApiError(400, "the simulator serves raw_data=true only")
        return _buckets_paginated(sim, site, q, page_size)
    start, end, clip = _window(sim, q)
    cursor = q.get("cursor") or None
    pager = site.pager
    truncate = fd.truncates(faults, page_size)
    if cursor is not None:
        try:
            offset, ts = decode_cursor(cursor)
        except CursorError as exc:
            raise ApiError(400, str(exc)) from None
        if not start <= ts <= end:
            raise ApiError(400, "Invalid cursor: it does not belong to this time window")
    no_data = fd.no_data_status(faults)
    if no_data == 404:
        raise ApiError(404, "No data for time period")
    if no_data == 200:
        return json_response(200, {"point_samples": [], "next_cursor": None, "has_more": False}, truncate=truncate)
    empty_page = fd.empty_page_due(faults, sim.counters)
    first = pager.first_pos(start)
    pos = first if cursor is None else max(pager.cursor_pos(ts, offset), first)
    if empty_page:
        same_place = pager.equivalent_cursor(pos, start, clip, avoid=cursor)
        if same_place is not None:
            return json_response(200, {"point_samples": [], "next_cursor": same_place, "has_more": True},
                                 truncate=truncate)
    resend = fd.resent_samples(faults, page_size)
    if cursor is not None and resend:
        pos = pager.back(pos, resend, first)
    pid, t, last, _ = pager.take(pos, page_size, clip)
    names, vals, times = site.render(pid, t)
    samples = [{"name": n, "value": v, "time": tm} for n, v, tm in zip(names, vals, times)]
    has_more = len(samples) == page_size  # a full page may be followed by an empty last page
    body = {"point_samples": samples, "next_cursor": pager.cursor_after(last) if has_more else None,
            "has_more": has_more}
    return json_response(200, body, truncate=truncate)


def _buckets_paginated(sim: "SimServer", site: Site, q: dict, page_size: int) -> Response:
    """raw_data absent or false, with serve_buckets on: 5-minute buckets (bv_sim.buckets)."""
    start, end, clip = _window(sim, q)
    truncate = fd.truncates(sim.faults, page_size)
    cursor = q.get("cursor") or None
    from_us, skip = bucket_floor(start), 0
    if cursor is not None:
        try:
            skip, ts = decode_cursor(cursor)
        except CursorError as exc:
            raise ApiError(400, str(exc)) from None
        if not from_us <= ts <= end or ts != bucket_floor(ts):
            raise ApiError(400, "Invalid cursor: it does not belong to this time window")
        from_us = ts
    no_data = fd.no_data_status(sim.faults)
    if no_data == 404:
        raise ApiError(404, "No data for time period")
    if no_data == 200:
        return json_response(200, {"point_samples": [], "next_cursor": None, "has_more": False}, truncate=truncate)
    return json_response(200, bucket_page(site, start, clip, from_us, skip, page_size), truncate=truncate)


def site_timeseries(sim: "SimServer", site: Site, req: Request) -> Response:
    return _unpaged(sim, site, None, req.query)


def _unpaged(sim: "SimServer", site: Site, only: list[int] | None, q: dict) -> Response:
    no_data = fd.no_data_status(sim.faults)
    if no_data == 404:
        raise ApiError(404, "No data for time period")
    start, _, clip = _window(sim, q)
    rows: list[dict] = []
    if no_data != 200:
        for pid, t in site.iter_chunks(start, clip, only=None if only is None else np.array(only)):
            names, vals, times = site.render(pid, t)
            rows.extend({"name": n, "value": v, "time": tm} for n, v, tm in zip(names, vals, times))
            if len(rows) > MAX_UNPAGED_SAMPLES:
                raise ApiError(400, "time window too large; use /timeseries/paginated")
    return json_response(200, {"point_samples": rows})


def get_timeseries(sim: "SimServer", req: Request) -> Response:
    body = req.body()
    names = body.get("points")
    if not isinstance(names, list) or not names:
        raise ApiError(400, 'body must be {"points": ["name", ...]} or {"points": [{"name": ...}]}')
    if len(names) > 100:
        raise ApiError(400, "at most 100 points per request")
    by_site: dict[str, tuple[Site, list[int]]] = {}
    for item in names:
        name = item.get("name") if isinstance(item, dict) else item
        found = sim.find_point(str(name)) if name else None
        if found is None:
            continue  # unknown names simply have no samples
        by_site.setdefault(found[0].name, (found[0], []))[1].append(found[1])
    start, _, clip = _window(sim, req.query)
    rows: list[dict] = []
    for site, idx in by_site.values():
        for pid, t in site.iter_chunks(start, clip, only=np.array(idx)):
            names_, vals, times = site.render(pid, t)
            rows.extend({"name": n, "value": v, "time": tm} for n, v, tm in zip(names_, vals, times))
            if len(rows) > MAX_UNPAGED_SAMPLES:
                raise ApiError(400, "time window too large")
    rows.sort(key=lambda r: r["time"])  # stable: keeps point order within one time
    return json_response(200, {"point_samples": rows})


WEATHER_UNITS = {"temp": "degreesFahrenheit", "feels_like": "degreesFahrenheit", "pressure": "hectopascals",
                 "humidity": "percentRelativeHumidity", "dew_point": "degreesFahrenheit", "clouds": "percent",
                 "wind_speed": "milesPerHour", "wind_deg": "degreesAngular", "wet_bulb": "degreesFahrenheit"}


def weather(sim: "SimServer", site: Site, req: Request) -> Response:
    """{"weather": {field: latest sample + units, source}} (fields of aceiot-models' WeatherData)."""
    if not site.weather_fields:
        raise ApiError(404, f"No weather for site {site.name}")
    latest = site.latest(list(site.weather_fields.values()), to_us(sim.clock.now()))
    out = {}
    for field, i in site.weather_fields.items():
        if i in latest:
            n, v, tm = latest[i]
            out[field] = {"name": n, "value": v, "time": tm, "units": WEATHER_UNITS.get(field),
                          "source": "openweathermap"}
    return json_response(200, {"weather": out})


# (method, path after /api/sites/<site>) -> route
SITE_ROUTES: dict[tuple[str, tuple[str, ...]], Callable[["SimServer", Site, Request], Response]] = {
    ("GET", ()): site_detail,
    ("GET", ("points",)): site_points,
    ("GET", ("configured_points",)): site_configured_points,
    ("GET", ("timeseries", "paginated")): timeseries_paginated,
    ("GET", ("timeseries",)): site_timeseries,
    ("GET", ("weather",)): weather,
}
