"""A hostile ACE: a real HTTP server on loopback that answers the client's endpoints with
whatever a test scripts, and hypothesis strategies for the hostile shapes.

The server (`HostileAce`, stdlib ThreadingHTTPServer in a thread) routes every `/api/...`
request to the current `Scenario`, which returns a `Reply`: status, headers and a body
that is bytes (sent with a Content-Length, possibly a lying one) or an iterable of chunks
(sent as they come, optionally dripped, then the connection closes). `GET /sites/{site}`
answers a plain site object unless the scenario says otherwise.

Scenarios (each a class here, built by a strategy below):
- `Pages`: a scripted cursor chain; page i is served for cursor `c{i}` (none for the first),
  bodies as hypothesis drew them (wrong types, missing/extra keys, huge strings, NaN
  literals, odd times). `expected_raw()` says what the raw zone must then hold.
- `CursorLoop`: cursors cycling A -> B -> A (or the same cursor forever), with or without samples.
- `RepeatingPage`: the same samples forever under fresh cursors.
- `EndlessPages`: new samples and a new cursor forever.
- `FixedReply`: one reply to every timeseries request (gzip bomb, HTML 200, truncated
  JSON, a slow drip).
- `Listing`: hostile `/sites/{site}/configured_points` envelopes, or an endless listing.

(Over 400 lines on purpose: the server, its scenarios and the strategies that feed them
are one tool; split, each part would be read only with the others.)
"""

from __future__ import annotations

import functools
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable
from urllib.parse import parse_qs, unquote, urlsplit

from hypothesis import strategies as st

SITE = "hostile_site"
CLIENT = "hc"
DAY_PREFIX = "2025-06-03"
POINTS = [f"{CLIENT}/{SITE}/dev/p{i}" for i in range(4)]  # the collect-enabled points


# ------------------------------------------------------------------------------ replies
@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str | None = "application/json"
    headers: dict = field(default_factory=dict)
    content_length: int | None = None  # announced length when it must lie (truncation)
    drip_s: float = 0.0  # pause before each chunk of an iterable body


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status=status, body=dumps(obj))


class RawJson:
    """Text put into a JSON body verbatim (`1e999`, `NaN`, `-Infinity`)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"RawJson({self.text!r})"


def dumps(obj: Any) -> bytes:
    """JSON as a sloppy server writes it: NaN/Infinity literals allowed, RawJson verbatim."""
    raws: list[str] = []

    def swap(o):
        if isinstance(o, RawJson):
            raws.append(o.text)
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(o, dict):
            return {k: swap(v) for k, v in o.items()}
        if isinstance(o, list):
            return [swap(v) for v in o]
        return o

    text = json.dumps(swap(obj), allow_nan=True)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00"), raw)
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------- scenarios
@dataclass
class Request:
    path: str  # after /api, unquoted
    params: dict
    headers: dict
    n: int  # 1-based count of timeseries requests so far


class Scenario:
    """Answers the timeseries endpoint; everything else gets the plain default."""

    kind = "scenario"

    def timeseries(self, req: Request) -> Reply:
        raise NotImplementedError

    def other(self, req: Request) -> Reply:
        if req.path == f"/sites/{SITE}":
            return json_reply({"id": 1, "name": SITE, "client": CLIENT, "client_id": 1, "archived": False})
        return json_reply({"msg": f"Site {req.path} not found"}, status=404)


def sample(i: int, t: int | None = None, value: Any = None) -> dict:
    t = i if t is None else t
    return {"name": POINTS[i % len(POINTS)], "value": f"{i * 0.5:.1f}" if value is None else value,
            "time": f"{DAY_PREFIX}T{(t // 3600) % 24:02d}:{(t // 60) % 60:02d}:{t % 60:02d}.000000"}


@dataclass
class Pages(Scenario):
    """A cursor chain of page bodies: page i answers cursor `c{i}` (page 0: no cursor)."""

    bodies: list  # JSON-able objects (or Reply for a raw answer)
    kind: str = "pages"

    def timeseries(self, req: Request) -> Reply:
        cursor = req.params.get("cursor")
        index = 0 if cursor is None else (int(cursor[1:]) if cursor[:1] == "c" and cursor[1:].isdigit() else -1)
        if not 0 <= index < len(self.bodies):
            return json_reply({"msg": "Invalid cursor"}, status=400)
        body = self.bodies[index]
        return body if isinstance(body, Reply) else json_reply(body)


@dataclass
class CursorLoop(Scenario):
    cycle: list  # cursors handed out in turn, e.g. ["A", "B"] or ["A"]
    with_samples: bool = True
    kind: str = "cursor_loop"

    def timeseries(self, req: Request) -> Reply:
        n = req.n
        samples = [sample(n * 10 + k, t=n * 10 + k) for k in range(3)] if self.with_samples else []
        return json_reply({"point_samples": samples, "next_cursor": self.cycle[(n - 1) % len(self.cycle)],
                           "has_more": True})


@dataclass
class RepeatingPage(Scenario):
    samples: int = 5
    kind: str = "repeating_page"

    def timeseries(self, req: Request) -> Reply:
        return json_reply({"point_samples": [sample(k) for k in range(self.samples)],
                           "next_cursor": f"fresh-{req.n}", "has_more": True})


@dataclass
class EndlessPages(Scenario):
    samples: int = 5
    kind: str = "endless_pages"

    def timeseries(self, req: Request) -> Reply:
        base = req.n * self.samples
        return json_reply({"point_samples": [sample(base + k, t=(base + k) % 86_400) for k in range(self.samples)],
                           "next_cursor": f"n{req.n}", "has_more": True})


@dataclass
class FixedReply(Scenario):
    reply: Reply
    kind: str = "fixed"

    def timeseries(self, req: Request) -> Reply:
        return self.reply


@dataclass
class Listing(Scenario):
    """`/sites/{site}/configured_points`: page n answers bodies[n-1]; `endless` answers every
    page with new items and `pages` far ahead; `reply` answers every page with one Reply."""

    bodies: list = field(default_factory=list)
    endless: bool = False
    reply: Reply | None = None
    kind: str = "listing"

    def other(self, req: Request) -> Reply:
        if not req.path.endswith("/configured_points"):
            return super().other(req)
        if self.reply is not None:
            return self.reply
        page = int(req.params.get("page", "1"))
        if self.endless:
            return json_reply({"page": page, "pages": 10**9, "per_page": 2, "total": 2 * 10**9,
                               "items": [{"name": f"{POINTS[0]}/{page}/{k}", "collect_enabled": True} for k in range(2)]})
        if not 1 <= page <= len(self.bodies):
            return json_reply({"msg": f"page {page} out of range"}, status=400)
        body = self.bodies[page - 1]
        return body if isinstance(body, Reply) else json_reply(body)


@st.composite
def listing_bodies(draw):
    """Listing envelopes, some well formed, some with wrong types or missing keys."""
    n = draw(st.integers(1, 3))
    bodies = []
    for i in range(n):
        items = [{"name": draw(names), "collect_enabled": draw(st.one_of(st.booleans(), WRONG)),
                  "bacnet_data": draw(st.one_of(st.none(), WRONG))} for _ in range(draw(st.integers(0, 3)))]
        body = {"page": i + 1, "pages": n, "per_page": 2, "total": 2 * n, "items": items}
        what = draw(st.sampled_from(["ok", "ok", "pages", "items", "item", "body", "drop"]))
        if what in ("pages", "items"):
            body[what] = draw(WRONG)
        elif what == "item":
            body["items"] = items + [draw(WRONG)]
        elif what == "body":
            body = draw(WRONG)
        elif what == "drop":
            body.pop(draw(st.sampled_from(["pages", "items", "page"])))
        bodies.append(body)
    return bodies


# ------------------------------------------------------------------------------ server
class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a client that hung up on a hostile body
        pass


class HostileAce:
    """The server. `scenario` may be swapped between examples; `requests` logs (path, params)."""

    def __init__(self):
        self.scenario: Scenario = FixedReply(json_reply({"point_samples": [], "has_more": False}))
        self.requests: list[tuple[str, dict]] = []
        self.auth_headers: set[str] = set()
        self._ts_count = 0
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="hostile-ace", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api"

    def start(self) -> "HostileAce":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def set(self, scenario: Scenario) -> None:
        with self._lock:
            self.scenario = scenario
            self.requests = []
            self._ts_count = 0

    def _route(self, raw_path: str, headers: dict) -> Reply:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append((path, params))
            if headers.get("authorization"):
                self.auth_headers.add(headers["authorization"])
            scenario = self.scenario
            is_ts = path.endswith("/timeseries/paginated")
            if is_ts:
                self._ts_count += 1
            n = self._ts_count
        if not path.startswith("/api/"):
            return json_reply({"msg": "not found"}, status=404)
        req = Request(path=path[4:], params=params, headers=headers, n=n)
        return scenario.timeseries(req) if is_ts else scenario.other(req)

    def _handler_class(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                reply = owner._route(self.path, {k.lower(): v for k, v in self.headers.items()})
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
                    self.close_connection = True

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if isinstance(reply.body, (bytes, bytearray)):
                    length = len(reply.body) if reply.content_length is None else reply.content_length
                    self.send_header("Content-Length", str(length))
                    if length != len(reply.body):
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                    return
                # An iterable body: no length, sent as it comes, the connection closes at the end.
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                for chunk in reply.body:
                    if reply.drip_s:
                        time.sleep(reply.drip_s)
                    self.wfile.write(chunk)
                    self.wfile.flush()

        return Handler


# ------------------------------------------------------------------------- gzip bombs
BOMB_BLOCK = 1 << 20


@functools.lru_cache(maxsize=None)
def _flushed_block(filler: bytes) -> bytes:
    """Raw deflate of BOMB_BLOCK `filler` bytes ended by a full flush: byte aligned and free
    of back-references, so the same compressed block can be repeated at no cost."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(filler * BOMB_BLOCK) + c.flush(zlib.Z_FULL_FLUSH)


@functools.lru_cache(maxsize=None)
def gzip_bomb(decoded_mib: int, filler: bytes = b" ", prefix: bytes = b'{"point_samples": [',
              container: str = "gzip") -> bytes:
    """A valid gzip (or zlib, for Content-Encoding: deflate) body of `prefix` + `decoded_mib`
    MiB of `filler`: 1024 MiB is about 1 MB on the wire."""
    import struct

    wbits = 31 if container == "gzip" else 15
    head_c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = head_c.compress(prefix) + head_c.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # an empty final block
    chunk = filler * BOMB_BLOCK
    if container == "gzip":
        crc = zlib.crc32(prefix)
        for _ in range(decoded_mib):
            crc = zlib.crc32(chunk, crc)
        size = (len(prefix) + decoded_mib * BOMB_BLOCK) & 0xFFFFFFFF
        trailer = struct.pack("<II", crc & 0xFFFFFFFF, size)
    else:
        adler = zlib.adler32(prefix)
        for _ in range(decoded_mib):
            adler = zlib.adler32(chunk, adler)
        trailer = struct.pack(">I", adler & 0xFFFFFFFF)
    return head + _flushed_block(filler) * decoded_mib + end + trailer


def gzip_again(body: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(body) + c.flush()


def inflated_size(body: bytes, layers: int = 1) -> int:
    """Decoded size of a gzip body (streamed, bounded memory): to state a bomb's size."""
    data = [body]
    for _ in range(layers - 1):
        data = [zlib.decompress(b"".join(data), 47)]
    d = zlib.decompressobj(47)
    total = 0
    buf = data[0]
    while buf:
        total += len(d.decompress(buf, 1 << 24))
        buf = d.unconsumed_tail
    return total


# ------------------------------------------------------------------------- strategies
IN_DAY = st.integers(min_value=0, max_value=86_399)
ASCII_WS = " \t\n\r\x0b\x0c"


def _hms(t: int) -> str:
    return f"{t // 3600:02d}:{(t // 60) % 60:02d}:{t % 60:02d}"


good_times = IN_DAY.map(lambda t: f"{DAY_PREFIX}T{_hms(t)}.{t % 997:06d}")
odd_times = st.one_of(
    good_times,
    st.tuples(IN_DAY, st.sampled_from(["Z", "z", "+00:00", "+05:30", "-08:00", "+14:00", "-12:00", "+2359",
                                       "-0000", "+23:59", "+24:00", "+05", " UTC", "EST", "+05:60"]))
    .map(lambda p: f"{DAY_PREFIX}T{_hms(p[0])}{p[1]}"),
    IN_DAY.map(lambda t: f"{DAY_PREFIX} {_hms(t)}"),  # space for T, no zone
    IN_DAY.map(lambda t: f"{DAY_PREFIX}T{_hms(t)}.1234567"),  # 7 fraction digits
    st.sampled_from(["-0001-06-03T00:00:00", "0000-01-01T00:00:00", "0001-01-01T00:00:00+01:00",
                     "9999-12-31T23:59:59.999999-23:59", "2025-02-29T00:00:00", "2024-02-29T12:00:00",
                     "2025-06-03T24:00:00", "2025-06-03", "20250603T000000", "2025-W23-2T00:00:00",
                     "2025-06-03T00:00:00+05:30[Asia/Kolkata]", "yesterday", "", "  2025-06-03T01:02:03  ",
                     "2025-06-02T23:59:59.999999", "2025-06-04T00:00:00.000000", "1749000000", "NaN"]),
    st.text(max_size=30),
)
values = st.one_of(
    st.sampled_from(["71.0", "-24.8571", "1e3", "1E-3", ".5", "5.", "+3", " 42 ", "\t7\n", "true", "FALSE",
                     "Active", "inactive", "ON", "off", "nan", "NaN", "-nan", "inf", "-Infinity", "1e999",
                     "-1e999", "0x10", "1_000", "١٢", "", "   ", "null", "None", "1,5", "--1", "1e", "e1"]),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.booleans(),
    st.just(RawJson("1e999")), st.just(RawJson("-1e999")), st.just(RawJson("NaN")), st.just(RawJson("-Infinity")),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.text(max_size=20),
)
names = st.one_of(st.sampled_from(POINTS), st.text(min_size=1, max_size=40))


@st.composite
def samples_list(draw, *, time_st=good_times, value_st=values, name_st=st.sampled_from(POINTS), max_size=8):
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=max_size))):
        s = {"name": draw(name_st), "value": draw(value_st), "time": draw(time_st)}
        if draw(st.integers(0, 9)) == 0:
            s[draw(st.sampled_from(["units", "quality", "value2", "Name"]))] = draw(values)
        out.append(s)
    return out


def chain(pages: list[list[dict]], *, extra: dict | None = None) -> list[dict]:
    """Well-formed envelopes around `pages` of samples: cursors c1, c2, ..., last has_more false."""
    bodies = []
    for i, samples in enumerate(pages):
        last = i == len(pages) - 1
        bodies.append({"point_samples": samples, "next_cursor": None if last else f"c{i + 1}",
                       "has_more": not last, **(extra or {})})
    return bodies


def data_pages(time_st=good_times, value_st=values, name_st=st.sampled_from(POINTS)):
    return st.lists(samples_list(time_st=time_st, value_st=value_st, name_st=name_st),
                    min_size=1, max_size=3).map(chain)


WRONG = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                  st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))


@st.composite
def wrong_type_pages(draw):
    """Envelope and sample fields of the wrong JSON type, one or two per chain."""
    bodies = draw(data_pages(value_st=st.sampled_from(["1.0", "2.5"])))
    page = draw(st.integers(0, len(bodies) - 1))
    where = draw(st.sampled_from(["point_samples", "next_cursor", "has_more", "body", "sample", "name", "time",
                                  "value"]))
    wrong = draw(WRONG)
    body = bodies[page]
    if where == "body":
        bodies[page] = wrong
    elif where in ("point_samples", "next_cursor", "has_more"):
        body[where] = wrong
    else:
        if not body["point_samples"]:
            body["point_samples"] = [sample(1)]
        k = draw(st.integers(0, len(body["point_samples"]) - 1))
        if where == "sample":
            body["point_samples"][k] = wrong
        else:
            body["point_samples"][k][where] = wrong
    return bodies


@st.composite
def missing_key_pages(draw):
    bodies = draw(data_pages(value_st=st.sampled_from(["1.0", "2.5", None])))
    for body in bodies:
        for key in draw(st.sets(st.sampled_from(["point_samples", "next_cursor", "has_more"]), max_size=2)):
            body.pop(key, None)
        for s in body.get("point_samples", []):
            for key in draw(st.sets(st.sampled_from(["name", "value", "time"]), max_size=1)):
                s.pop(key, None)
        if draw(st.booleans()):
            body[draw(st.text(min_size=1, max_size=8))] = draw(WRONG)
    return bodies


@st.composite
def huge_string_pages(draw, cap_bytes: int):
    """One field a huge string, either under the client's response cap (data) or over it."""
    size = draw(st.sampled_from([cap_bytes // 4, cap_bytes // 2, cap_bytes + 1024]))
    where = draw(st.sampled_from(["value", "name", "time", "next_cursor", "unknown_key"]))
    text = draw(st.sampled_from(["7", "x", "é", "\u2028"])) * (size // 2)
    samples = [sample(k) for k in range(3)]
    bodies = chain([samples, [sample(5)]])
    if where in ("value", "name", "time"):
        bodies[0]["point_samples"][1][where] = text
    elif where == "next_cursor":
        bodies[0]["next_cursor"] = text
    else:
        bodies[0]["blob"] = text
    return bodies


non_finite_values = st.one_of(
    st.sampled_from([RawJson("NaN"), RawJson("Infinity"), RawJson("-Infinity"), RawJson("1e999"),
                     RawJson("-1e400"), RawJson("1e-400"), RawJson("123456789012345678901234567890"),
                     "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "1.7976931348623157e308", "-0.0"]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def cursor_loops():
    return st.builds(CursorLoop, cycle=st.sampled_from([["A", "B"], ["A"], ["A", "B", "C"], ["A", "B", "A", "C"]]),
                     with_samples=st.booleans())


def gzip_bomb_replies():
    """A gzip (or deflate, or gzip-in-gzip) body of ~1 MB or less that inflates to 1 GiB."""
    return st.builds(
        lambda layers, filler: _bomb_reply(layers, filler),
        st.sampled_from([("gzip",), ("gzip", "gzip"), ("deflate",)]),
        st.sampled_from([b" ", b"\x00"]),
    )


def _bomb_reply(layers: tuple, filler: bytes) -> Reply:
    body = gzip_bomb(1024, filler, container="zlib" if layers == ("deflate",) else "gzip")
    if layers == ("gzip", "gzip"):
        body = gzip_again(body)
    return Reply(body=body, headers={"Content-Encoding": ", ".join(layers)})


def html_replies(token: str):
    pages = st.sampled_from([
        "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
        "<hr><center>nginx</center></body></html>",
        "<!DOCTYPE html><html><body><h1>Sign in</h1><form action='/login'></form></body></html>",
        f"<html><body>Maintenance. Your request carried Bearer {token}</body></html>",
        "<html>" + "x" * 20000 + "</html>",
    ])
    return st.builds(lambda text, ctype: Reply(body=text.encode(), content_type=ctype),
                     pages, st.sampled_from(["text/html", "text/html; charset=utf-8", "text/plain"]))


def truncated_replies():
    full = dumps(chain([[sample(k) for k in range(40)], [sample(41)]])[0])
    return st.one_of(
        st.integers(1, len(full) - 1).map(lambda cut: Reply(body=full[:cut])),  # complete length, JSON cut
        st.integers(1, len(full) - 1).map(lambda cut: Reply(body=full[:cut], content_length=len(full))),  # lying length
        st.integers(1, 300).map(lambda cut: Reply(body=gzip_again(full)[:cut], headers={"Content-Encoding": "gzip"})),
    )


def slow_drip_replies():
    """A valid page sent a few bytes at a time, slower than the window's budget allows."""
    full = dumps(chain([[sample(k) for k in range(20)]])[0])
    return st.builds(
        lambda step, drip: Reply(body=[full[i:i + step] for i in range(0, len(full), step)], drip_s=drip),
        st.sampled_from([1, 3, 16]), st.sampled_from([0.05, 0.2]),
    )
