"""The ACE FlightDeck simulator: a real HTTP/1.1 server on loopback (stdlib + numpy + orjson).

It follows /work/shared/ace-api.md. Routes under /api need `Authorization: Bearer <token>`;
routes under /_sim steer a running simulator (clock, faults, state) and need no auth.
"""

from __future__ import annotations

import hmac
import math
import secrets
import socket
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import orjson

from bv_sim.clock import SimClock, as_utc
from bv_sim.faults import FaultConfig, FaultCounters
from bv_sim.sites import Site, SiteSpec, default_sites
from bv_sim.timeseries import CursorError, decode_cursor, to_us

PER_PAGE_ALLOWED = (2, 10, 20, 30, 40, 50, 100, 500, 1000, 5000, 10000, 100000)
PAGE_SIZE_ALLOWED = (3, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000, 300000, 500000)
DEFAULT_PER_PAGE = 10
DEFAULT_PAGE_SIZE = 10000
MAX_UNPAGED_SAMPLES = 1_000_000  # the non-paginated relatives refuse bigger windows

_HTML_ERROR = (b"<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1>"
               b"</center><hr><center>nginx</center></body></html>\n")


class ApiError(Exception):
    def __init__(self, status: int, msg: str):
        super().__init__(msg)
        self.status = status
        self.msg = msg


def _parse_time(value: str | None, name: str) -> int:
    if not value:
        raise ApiError(400, f"{name} is required")
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"{name} is not an ISO 8601 time: {value!r}") from None
    return to_us(as_utc(dt))


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, sim: "SimServer"):
        self.sim = sim
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FlightDeckSim/1.0"
    timeout = 120  # an idle keep-alive connection is dropped after this

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK
        # would add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self):
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002 - quiet; the request log is in memory
        pass

    @property
    def sim(self) -> "SimServer":
        return self.server.sim

    # ---------------------------------------------------------------- plumbing
    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict | None = None, truncate: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            # Announce the whole body, send half, hang up: a transfer that breaks mid-way.
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            self.wfile.write(body)
        self._status = status

    def _json(self, status: int, obj, **kw) -> None:
        self._send(status, orjson.dumps(obj), **kw)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApiError(400, "body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "body must be a JSON object")
        return data

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        self._status = 0
        split = urlsplit(self.path)
        # Split the raw path before unquoting: point names carry %2F-encoded slashes.
        segments = [unquote(s) for s in split.path.split("/")[1:]]
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        try:
            if segments[:1] == ["_sim"]:
                self._admin(method, segments[1:])
                return
            if segments[:1] != ["api"]:
                raise ApiError(404, "The requested URL was not found on the server.")
            try:
                self._api(method, segments[1:], query)
            except ApiError as exc:
                self._json(exc.status, {"msg": exc.msg})
            self.sim._log(method, split.path, self._status)
        except ApiError as exc:
            self._json(exc.status, {"msg": exc.msg})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a simulator bug must surface as a 500, not a hung client
            self._json(500, {"msg": f"simulator error: {type(exc).__name__}: {exc}"})
            self.sim._log(method, split.path, 500)

    # ---------------------------------------------------------------- /_sim
    def _admin(self, method: str, segs: list[str]) -> None:
        sim = self.sim
        route = "/".join(s for s in segs if s)
        if method == "GET" and route == "state":
            self._json(200, sim.state())
        elif method == "POST" and route == "clock":
            body = self._body()
            if body.get("real_time"):
                sim.clock.use_real_time()
            elif "now" in body:
                try:
                    sim.clock.set(datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00")))
                except ValueError:
                    raise ApiError(400, f"now is not an ISO 8601 time: {body['now']!r}") from None
            elif "advance_seconds" in body:
                sim.clock.advance(timedelta(seconds=float(body["advance_seconds"])))
            else:
                raise ApiError(400, 'body must be {"now": ISO} or {"advance_seconds": n} or {"real_time": true}')
            self._json(200, sim.state())
        elif method == "POST" and route == "faults":
            try:
                sim.set_faults(FaultConfig.from_dict(self._body()))
            except (TypeError, ValueError) as exc:
                raise ApiError(400, str(exc)) from None
            self._json(200, sim.state())
        elif method == "POST" and route == "reset_log":
            sim.reset_log()
            self._json(200, sim.state())
        else:
            raise ApiError(404, f"no admin route {method} /_sim/{route}")

    # ---------------------------------------------------------------- /api
    def _api(self, method: str, segs: list[str], q: dict) -> None:
        sim = self.sim
        auth = self.headers.get("Authorization") or ""
        if not auth:
            raise ApiError(401, "Missing Authorization Header")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), sim.token.encode()):
            raise ApiError(401, "Invalid or unknown token")  # never echo what was sent
        faults = sim.faults
        if faults.reject_token:
            raise ApiError(401, "Token has expired")
        n = sim._counters.next_api()
        if faults.slow_s:
            time.sleep(faults.slow_s)
        if faults.rate_limit_every and n % faults.rate_limit_every == 0:
            headers = {}
            if faults.retry_after_s is not None:
                ra = float(faults.retry_after_s)
                headers["Retry-After"] = str(int(ra)) if ra.is_integer() else str(ra)
            self._json(429, {"msg": "Too Many Requests"}, headers=headers)
            return
        if faults.server_error_every and n % faults.server_error_every == 0:
            k = sim._counters.next_error()
            code, reason = ((500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable"))[(k - 1) % 3]
            if k % 2:
                self._json(code, {"msg": reason})
            else:
                self._send(code, _HTML_ERROR.replace(b"{code}", str(code).encode()).replace(b"{reason}", reason.encode()),
                           content_type="text/html")
            return

        while segs and segs[-1] == "":
            segs = segs[:-1]  # "/sites/" and "/sites" are the same route
        if method == "GET" and segs == ["sites"]:
            return self._list_sites(q)
        if segs[:1] == ["sites"] and len(segs) >= 2:
            site = sim.site_or_none(segs[1])
            if site is None:
                raise ApiError(404, f"Site {segs[1]} not found")
            rest = segs[2:]
            if method == "GET" and rest == []:
                return self._json(200, site.site_dict())
            if method == "GET" and rest == ["points"]:
                return self._paged(site.points(), q)
            if method == "GET" and rest == ["configured_points"]:
                return self._paged(site.configured_points(), q)
            if method == "GET" and rest == ["timeseries", "paginated"]:
                return self._timeseries_paginated(site, q)
            if method == "GET" and rest == ["timeseries"]:
                return self._unpaged(site, None, q)
            if method == "GET" and rest == ["weather"]:
                return self._weather(site)
        if segs[:1] == ["points"]:
            if method == "POST" and segs == ["points", "get_timeseries"]:
                return self._get_timeseries(q)
            if method == "GET" and len(segs) == 3 and segs[2] == "timeseries":
                site, idx = self._point(segs[1])
                return self._unpaged(site, [idx], q)
            if method == "GET" and len(segs) == 2:
                site, idx = self._point(segs[1])
                return self._json(200, site.points()[idx])
        raise ApiError(404, "The requested URL was not found on the server.")

    def _list_sites(self, q: dict) -> None:
        sites = [s for s in self.sim.sites.values()
                 if (_flag(q.get("show_archived")) or not s.spec.archived)
                 and (not _flag(q.get("collect_enabled")) or s.has_configured_points)]
        self._paged([s.site_dict() for s in sites], q)

    def _paged(self, items: list, q: dict) -> None:
        try:
            page = int(q.get("page", 1))
            per_page = int(q.get("per_page", DEFAULT_PER_PAGE))
        except ValueError:
            raise ApiError(400, "page and per_page must be integers") from None
        if page < 1:
            raise ApiError(400, "page must be >= 1")
        if per_page not in PER_PAGE_ALLOWED:
            raise ApiError(400, f"per_page must be one of {list(PER_PAGE_ALLOWED)}")
        total = len(items)
        self._json(200, {"page": page, "pages": math.ceil(total / per_page), "per_page": per_page,
                         "total": total, "items": items[(page - 1) * per_page: page * per_page]})

    def _window(self, q: dict) -> tuple[int, int, int]:
        start = _parse_time(q.get("start_time"), "start_time")
        end = _parse_time(q.get("end_time"), "end_time")
        if end < start:
            raise ApiError(400, "end_time must not be before start_time")
        now = to_us(self.sim.clock.now())
        return start, end, min(end, now)  # samples exist only before the clock's now

    def _timeseries_paginated(self, site: Site, q: dict) -> None:
        sim, faults = self.sim, self.sim.faults
        try:
            page_size = int(q.get("page_size", DEFAULT_PAGE_SIZE))
        except ValueError:
            raise ApiError(400, "page_size must be an integer") from None
        if page_size not in PAGE_SIZE_ALLOWED:
            raise ApiError(400, f"page_size must be one of {list(PAGE_SIZE_ALLOWED)}")
        if not _flag(q.get("raw_data")):
            # Documented deviation: the simulator serves raw samples only (5-minute buckets are
            # never used by this project).
            raise ApiError(400, "the simulator serves raw_data=true only")
        start, end, clip = self._window(q)
        cursor = q.get("cursor") or None
        pager = site.pager
        truncate = bool(faults.truncate_above_page_size) and page_size > faults.truncate_above_page_size
        if cursor is not None:
            try:
                offset, ts = decode_cursor(cursor)
            except CursorError as exc:
                raise ApiError(400, str(exc)) from None
            if not start <= ts <= end:
                raise ApiError(400, "Invalid cursor: it does not belong to this time window")
        if faults.empty_window == "404":
            raise ApiError(404, "No data for time period")
        if faults.empty_window == "200":
            return self._json(200, {"point_samples": [], "next_cursor": None, "has_more": False}, truncate=truncate)
        page_no = sim._counters.next_page()
        first = pager.first_pos(start)
        pos = first if cursor is None else max(pager.cursor_pos(ts, offset), first)
        if faults.empty_page_every and page_no % faults.empty_page_every == 0:
            same_place = pager.equivalent_cursor(pos, start, clip, avoid=cursor)
            if same_place is not None:
                return self._json(200, {"point_samples": [], "next_cursor": same_place, "has_more": True},
                                  truncate=truncate)
        if cursor is not None and faults.resend_overlap:
            pos = pager.back(pos, min(faults.resend_overlap, page_size - 1), first)
        pid, t, last, _ = pager.take(pos, page_size, clip)
        names, vals, times = site.render(pid, t)
        samples = [{"name": n, "value": v, "time": tm} for n, v, tm in zip(names, vals, times)]
        has_more = len(samples) == page_size  # a full page may be followed by an empty last page
        body = {"point_samples": samples, "next_cursor": pager.cursor_after(last) if has_more else None,
                "has_more": has_more}
        self._json(200, body, truncate=truncate)

    def _unpaged(self, site: Site, only: list[int] | None, q: dict) -> None:
        if self.sim.faults.empty_window == "404":
            raise ApiError(404, "No data for time period")
        start, _, clip = self._window(q)
        rows: list[dict] = []
        if self.sim.faults.empty_window != "200":
            for pid, t in site.iter_chunks(start, clip, only=None if only is None else np.array(only)):
                names, vals, times = site.render(pid, t)
                rows.extend({"name": n, "value": v, "time": tm} for n, v, tm in zip(names, vals, times))
                if len(rows) > MAX_UNPAGED_SAMPLES:
                    raise ApiError(400, "time window too large; use /timeseries/paginated")
        self._json(200, {"point_samples": rows})

    def _point(self, name: str) -> tuple[Site, int]:
        found = self.sim.find_point(name)
        if found is None:
            raise ApiError(404, f"Point {name} not found")
        return found

    def _get_timeseries(self, q: dict) -> None:
        body = self._body()
        names = body.get("points")
        if not isinstance(names, list) or not names:
            raise ApiError(400, 'body must be {"points": ["name", ...]} or {"points": [{"name": ...}]}')
        if len(names) > 100:
            raise ApiError(400, "at most 100 points per request")
        by_site: dict[str, tuple[Site, list[int]]] = {}
        for item in names:
            name = item.get("name") if isinstance(item, dict) else item
            found = self.sim.find_point(str(name)) if name else None
            if found is None:
                continue  # unknown names simply have no samples
            by_site.setdefault(found[0].name, (found[0], []))[1].append(found[1])
        start, _, clip = self._window(q)
        rows: list[dict] = []
        for site, idx in by_site.values():
            for pid, t in site.iter_chunks(start, clip, only=np.array(idx)):
                names_, vals, times = site.render(pid, t)
                rows.extend({"name": n, "value": v, "time": tm} for n, v, tm in zip(names_, vals, times))
                if len(rows) > MAX_UNPAGED_SAMPLES:
                    raise ApiError(400, "time window too large")
        rows.sort(key=lambda r: r["time"])  # stable: keeps point order within one time
        self._json(200, {"point_samples": rows})

    def _weather(self, site: Site) -> None:
        if not site.weather_fields:
            raise ApiError(404, f"No weather for site {site.name}")
        latest = site.latest(list(site.weather_fields.values()), to_us(self.sim.clock.now()))
        weather = {}
        for field, i in site.weather_fields.items():
            if i in latest:
                n, v, tm = latest[i]
                weather[field] = {"name": n, "value": v, "time": tm}
        self._json(200, {"weather": weather})


class SimServer:
    """The simulator on a background thread. `port=0` picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 sites: list[SiteSpec | Site] | None = None, clock: SimClock | None = None,
                 faults: FaultConfig | None = None):
        self.host = host
        self.port = port
        self.token = token if token is not None else secrets.token_urlsafe(32)
        specs = default_sites() if sites is None else sites
        self.sites: dict[str, Site] = {}
        for s in specs:
            model = s.model() if isinstance(s, SiteSpec) else s
            if model.name in self.sites:
                raise ValueError(f"duplicate site {model.name}")
            self.sites[model.name] = model
        self._point_index = {n: (site, i) for site in self.sites.values() for n, i in site.index.items()}
        self.clock = clock or SimClock()
        self._faults = faults or FaultConfig()
        self._counters = FaultCounters()
        self._log_lock = threading.Lock()
        self.request_log: list[tuple[str, str, int]] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "SimServer":
        self._httpd = _Server((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"bv-sim:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with httpd.sockets_lock:  # idle keep-alive connections would otherwise linger
            for sock in list(httpd.open_sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve on the calling thread (the CLI); returns after stop() from another thread."""
        self._httpd = _Server((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self._httpd.serve_forever(poll_interval=0.2)

    def __enter__(self) -> "SimServer":
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.port}/_sim"

    # ------------------------------------------------------------------ steering
    @property
    def faults(self) -> FaultConfig:
        return self._faults

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Replace the faults and restart their counters (so "every Nth" is reproducible)."""
        self._counters = FaultCounters()
        self._faults = faults or FaultConfig()

    def site(self, name: str) -> Site:
        return self.sites[name]

    def site_or_none(self, name: str) -> Site | None:
        return self.sites.get(name)

    def find_point(self, name: str) -> tuple[Site, int] | None:
        return self._point_index.get(name)

    def _log(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self.request_log.append((method, path, status))

    def reset_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()

    def state(self) -> dict:
        return {
            "base_url": self.base_url,
            "now": self.clock.now().isoformat(),
            "real_time": self.clock.real_time,
            "faults": self._faults.to_dict(),
            "counters": self._counters.to_dict(),
            "requests": len(self.request_log),
            "sites": [{"name": s.name, "client": s.client, "points": len(s.point_specs),
                       "configured_points": len(s.configured_points())} for s in self.sites.values()],
        }

    def __repr__(self) -> str:  # never shows the token
        return f"SimServer({self.base_url}, sites={list(self.sites)})"
