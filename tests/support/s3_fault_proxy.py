"""A fault-injecting HTTP proxy on loopback in front of the S3 server (moto).

    proxy = S3FaultProxy(s3_server).start()          # s3_server: "http://127.0.0.1:PORT"
    storage = S3Storage(bucket, prefix, endpoint_url=proxy.url, client=s3_client(proxy.url))
    proxy.fail(503, "SlowDown", method="PUT", path_contains="archive/")        # every match
    proxy.fail(503, "ServiceUnavailable", times=2, method="PUT")               # the next 2
    proxy.cut(method="PUT", path_contains="archive/", after_bytes=512, then_stop=True)
    proxy.count(method="PUT", outcome="injected 503")  # what the client really sent

Requests are forwarded byte for byte (a real S3 server would see the same); an injected error
is the status with S3's XML error body, answered after the request body was read. `cut` reads
part of the body and drops the connection without an answer — with `then_stop`, the proxy
also stops listening first, so every retry is refused: the S3 server gone mid-upload.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
               "expect", "content-length"}


@dataclass
class Rule:
    kind: str  # "fail" | "cut"
    method: str | None
    path_contains: str | None
    times: int | None  # None: every matching request
    status: int = 0
    code: str = ""
    after_bytes: int = 0
    then_stop: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and "100 Continue" for botocore's Expect header
    server: "_Server"

    def log_message(self, *args) -> None:  # quiet: the proxy records what it did instead
        pass

    def do_GET(self):
        self._handle()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    def _read_body(self, limit: int | None = None) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
                if limit is not None and len(out) >= limit:
                    return bytes(out)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length if limit is None else min(limit, length))

    def _handle(self) -> None:
        proxy = self.server.proxy
        arrived = time.monotonic()
        rule = proxy._take(self.command, self.path)
        if rule is not None and rule.kind == "cut":
            self._read_body(rule.after_bytes)
            if rule.then_stop:
                proxy.stop()
            proxy._record(self.command, self.path, "cut", arrived)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = self._read_body()
        if rule is not None:
            proxy._record(self.command, self.path, f"injected {rule.status}", arrived)
            return self._answer(rule.status, {"Content-Type": "application/xml"}, _error_xml(rule.code, self.path))
        status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
        proxy._record(self.command, self.path, f"forwarded {status}", arrived)
        self._answer(status, headers, payload)

    def _answer(self, status: int, headers: dict, payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        # HEAD answers carry the object's length but no body.
        upstream_length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
        length = upstream_length if self.command == "HEAD" else str(len(payload))
        self.send_header("Content-Length", length or "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _error_xml(code: str, path: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>injected by the test proxy</Message>"
        f"<Resource>{path}</Resource><RequestId>{uuid.uuid4().hex[:16]}</RequestId></Error>"
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: "S3FaultProxy"


class S3FaultProxy:
    def __init__(self, upstream: str):
        parsed = urlparse(upstream)
        self.upstream_host, self.upstream_port = parsed.hostname, parsed.port
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str, str]] = []  # (method, path, outcome)
        self.arrivals: list[float] = []  # time.monotonic() of each request, same order
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "S3FaultProxy":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="s3-fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused from now on."""
        server, self._server = self._server, None
        if server is None:
            return
        # shutdown() waits for serve_forever, which runs on another thread than any handler.
        threading.Thread(target=server.shutdown, daemon=True).start()
        server.socket.close()

    @property
    def listening(self) -> bool:
        return self._server is not None

    # -- steering --------------------------------------------------------------------------
    def fail(self, status: int, code: str, *, times: int | None = None, method: str | None = None,
             path_contains: str | None = None) -> None:
        with self._lock:
            self._rules.append(Rule("fail", method, path_contains, times, status=status, code=code))

    def cut(self, *, method: str | None = "PUT", path_contains: str | None = None, after_bytes: int = 512,
            then_stop: bool = False, times: int | None = 1) -> None:
        with self._lock:
            self._rules.append(Rule("cut", method, path_contains, times, after_bytes=after_bytes, then_stop=then_stop))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def count(self, *, method: str | None = None, path_contains: str | None = None, outcome: str | None = None) -> int:
        with self._lock:
            return sum(
                1 for m, p, o in self.requests
                if (method is None or m == method) and (path_contains is None or path_contains in p)
                and (outcome is None or o == outcome)
            )

    # -- internals -------------------------------------------------------------------------
    def _take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path) and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    def span_s(self, *, method: str | None = None, path_contains: str | None = None) -> float:
        """Seconds from the first to the last matching request: the client's retry span."""
        with self._lock:
            times = [t for (m, p, _), t in zip(self.requests, self.arrivals)
                     if (method is None or m == method) and (path_contains is None or path_contains in p)]
        return times[-1] - times[0] if times else 0.0

    def _record(self, method: str, path: str, outcome: str, arrived: float) -> None:
        with self._lock:
            self.requests.append((method, path, outcome))
            self.arrivals.append(arrived)

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            out = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or method in ("PUT", "POST"):
                out["Content-Length"] = str(len(body))
            conn.request(method, path, body=body or None, headers=out)
            response = conn.getresponse()
            payload = response.read()
            return response.status, dict(response.getheaders()), payload
        finally:
            conn.close()
