"""HTTP plumbing of the simulator: the threaded HTTP/1.1 server and request handler.

Parses requests, checks the bearer token, runs the per-request faults, writes JSON and
HTML responses, and dispatches /api and /_sim to the route tables it is given.
"""

from __future__ import annotations

import hmac
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from bv_sim.fault_decisions import Refusal, refuse_api_request

if TYPE_CHECKING:
    from bv_sim.server import SimServer

_HTML_ERROR = (b"<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1>"
               b"</center><hr><center>nginx</center></body></html>\n")


class ApiError(Exception):
    """Answer the request with `status` and `{"msg": msg}`."""

    def __init__(self, status: int, msg: str):
        super().__init__(msg)
        self.status = status
        self.msg = msg


@dataclass
class Response:
    """What a route answers. `truncate`: announce the whole body, send half, hang up."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict | None = None
    truncate: bool = False


def json_response(status: int, obj, headers: dict | None = None, truncate: bool = False) -> Response:
    return Response(status, orjson.dumps(obj), headers=headers, truncate=truncate)


def html_error(status: int, reason: str) -> Response:
    body = _HTML_ERROR.replace(b"{code}", str(status).encode()).replace(b"{reason}", reason.encode())
    return Response(status, body, content_type="text/html")


def refusal_response(refusal: Refusal) -> Response:
    if refusal.html:
        return html_error(refusal.status, refusal.msg)
    return json_response(refusal.status, {"msg": refusal.msg}, headers=refusal.headers)


class Request:
    """One request as the routes see it: method, path segments after the first (each unquoted
    after splitting, so %2F stays inside a segment), the last value of each query argument,
    and `body()`, the JSON object body (read on demand)."""

    def __init__(self, method: str, segs: list[str], query: dict[str, str],
                 read_body: Callable[[], dict]):
        self.method = method
        self.segs = segs
        self.query = query
        self._read_body = read_body

    def body(self) -> dict:
        return self._read_body()


Route = Callable[["SimServer", Request], Response]


def check_auth(authorization: str | None, token: str) -> None:
    """Raise 401 unless `authorization` is `Bearer <token>`."""
    auth = authorization or ""
    if not auth:
        raise ApiError(401, "Missing Authorization Header")
    scheme, _, given = auth.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "Invalid or unknown token")  # never echo what was sent


class SimHTTPServer(ThreadingHTTPServer):
    """Serves one SimServer: /api requests go to `api_routes`, /_sim requests to `admin_routes`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, sim: "SimServer", api_routes: Route, admin_routes: Route):
        self.sim = sim
        self.api_routes = api_routes
        self.admin_routes = admin_routes
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, SimRequestHandler)

    def close_open_sockets(self) -> None:
        """Hang up idle keep-alive connections (they would otherwise linger after shutdown)."""
        with self.sockets_lock:
            for sock in list(self.open_sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class SimRequestHandler(BaseHTTPRequestHandler):
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

    # ---------------------------------------------------------------- writing
    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for k, v in (response.headers or {}).items():
            self.send_header(k, v)
        if response.truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if response.truncate:
            # Announce the whole body, send half, hang up: a transfer that breaks mid-way.
            self.wfile.write(response.body[: len(response.body) // 2])
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            self.wfile.write(response.body)
        self._status = response.status

    def _error(self, exc: ApiError) -> None:
        self._send(json_response(exc.status, {"msg": exc.msg}))

    # ---------------------------------------------------------------- reading
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

    # ---------------------------------------------------------------- dispatch
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
        request = Request(method, segments[1:], query, self._body)
        logged = False
        try:
            if segments[:1] == ["_sim"]:
                self._send(self.server.admin_routes(self.sim, request))
                return
            if segments[:1] != ["api"]:
                raise ApiError(404, "The requested URL was not found on the server.")
            try:
                response = self._api(request)
            except ApiError as exc:
                response = json_response(exc.status, {"msg": exc.msg})
            # Logged before the first byte goes out: a client that has its answer always
            # finds the request in request_log.
            self.sim.log_request(method, split.path, response.status)
            logged = True
            self._send(response)
        except ApiError as exc:
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a simulator bug must surface as a 500, not a hung client
            if not logged:
                self.sim.log_request(method, split.path, 500)
            self._send(json_response(500, {"msg": f"simulator error: {type(exc).__name__}: {exc}"}))

    def _api(self, request: Request) -> Response:
        sim = self.sim
        check_auth(self.headers.get("Authorization"), sim.token)
        refusal = refuse_api_request(sim.faults, sim.counters)
        if refusal is not None:
            return refusal_response(refusal)
        return self.server.api_routes(sim, request)
