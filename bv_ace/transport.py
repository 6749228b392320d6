"""HTTP transport to ACE: httpx, bearer auth, pacing, bounded retries, typed errors.

- Auth is `Authorization: Bearer <api_key>`. The key never appears in logs, exception
  messages or `repr()`; anything a server echoes back is scrubbed of it.
- Retried (exponential backoff with equal jitter, capped at `backoff_max_s`; a 429's
  `Retry-After` honoured, seconds or HTTP-date, clamped to RETRY_AFTER_MAX_S): 429, 500,
  502, 503, 504, timeouts, connection errors, dropped connections / incomplete bodies, a
  body that is not valid JSON, and whatever a `parse` callback raises as `Transient`. At
  most `max_retries` retries per request, then `AceRetriesExhausted`.
- 401/403/422 -> `AceAuthError` at once; 404 -> `AceNotFoundError`; other 4xx ->
  `AceError` with the server's (scrubbed) message.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import time
from datetime import timezone
from typing import Any, Callable, Mapping, Union

import httpx
import orjson

from bv_ace.errors import AceAuthError, AceError, AceNotFoundError, AceRetriesExhausted
from bv_ace.pacer import RequestPacer

log = logging.getLogger("bv.ace")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403, 422})
RETRY_AFTER_MAX_S = 300.0  # a Retry-After beyond this is clamped (a run should not hang for hours)
BROKEN_IN_A_ROW_TO_SHRINK = 2  # broken bodies in a row before `on_broken` is asked
_MSG_MAX = 300
_MSG_SCAN = 8192  # how much of an error body is read (and scrubbed) before cutting to _MSG_MAX
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")

Params = Union[Mapping[str, Any], Callable[[], Mapping[str, Any]]]


class Transient(Exception):
    """One failed attempt that may succeed when retried (`broken_body`: the body broke)."""

    def __init__(self, description: str, *, retry_after: float | None = None, broken_body: bool = False,
                 status: int | None = None):
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after
        self.broken_body = broken_body
        self.status = status


def where(site: str | None, endpoint: str) -> str:
    """'for site 'x' at GET /path' (or 'at GET /path'): the tail of every error message."""
    return f"for site {site!r} at {endpoint}" if site else f"at {endpoint}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _server_message(resp: httpx.Response, scrub: Callable[[str], str]) -> str:
    """The server's error text: JSON `msg`/`message`/`error`/`detail`, else the body head.
    Scrubbed of the key before it is cut, so a cut can never leave part of a key behind."""
    text = ""
    try:
        body = orjson.loads(resp.content)
        if isinstance(body, dict):
            for key in ("msg", "message", "error", "detail"):
                if body.get(key):
                    text = str(body[key])
                    break
        if not text:
            text = resp.content[:_MSG_SCAN].decode("utf-8", "replace")
    except Exception:
        text = resp.content[:_MSG_SCAN].decode("utf-8", "replace")
    text = scrub(" ".join(text.split()))
    return text[:_MSG_MAX] or resp.reason_phrase or f"HTTP {resp.status_code}"


class Transport:
    """GET requests to one ACE API base with auth, pacing, retries and typed errors. Thread-safe."""

    def __init__(
        self,
        api_base: str,
        api_key: str,
        *,
        timeout_s: float,
        max_retries: int,
        backoff_base_s: float,
        backoff_max_s: float,
        requests_per_minute: float,
        max_concurrency: int,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.api_base = api_base.rstrip("/")
        self._api_key = api_key
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self._sleep = sleep
        self.pacer = RequestPacer(requests_per_minute, max_concurrency)
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=max(max_concurrency, 1) + 2,
                                max_keepalive_connections=max(max_concurrency, 1)),
            transport=http_transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return (f"Transport(api_base={self.api_base!r}, api_key='***', max_retries={self.max_retries}, "
                f"pacer={self.pacer!r})")

    def close(self) -> None:
        self._http.close()

    def scrub(self, text: str) -> str:
        """`text` without the API key, a `Bearer <token>`, or the start of the key (a cut echo)."""
        key = self._api_key
        if key and key in text:
            text = text.replace(key, "***")
        text = _BEARER.sub("Bearer ***", text)
        if key and len(key) >= 16:
            for size in range(len(key) - 1, 15, -1):
                if key[:size] in text:
                    text = text.replace(key[:size], "***")
                    break
        return text

    def _backoff(self, retry_number: int) -> float:
        """Delay before retry `retry_number` (1-based): exponential, capped, 'equal jitter'."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** (retry_number - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _attempt(self, path: str, params: Mapping[str, Any], site: str | None, endpoint: str,
                 parse: Callable[[bytes], Any] | None) -> tuple[httpx.Response, Any]:
        """One request. Returns (response, parsed body) on 2xx; raises Transient or AceError.
        The body is parsed after the pacer slot is released."""
        with self.pacer.slot():
            try:
                resp = self._http.get(self.api_base + path, params=params)
            except httpx.TimeoutException as exc:
                raise Transient(f"timed out after {self.timeout_s:g}s ({type(exc).__name__})") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.DecodingError) as exc:
                raise Transient(
                    f"connection broke mid-response ({type(exc).__name__}: {self.scrub(str(exc))})",
                    broken_body=True,
                ) from None
            except httpx.TransportError as exc:
                raise Transient(f"connection error ({type(exc).__name__}: {self.scrub(str(exc))})") from None
        status = resp.status_code
        if 200 <= status < 300:
            if parse is not None:
                return resp, parse(resp.content)
            try:
                return resp, orjson.loads(resp.content)
            except orjson.JSONDecodeError as exc:
                raise Transient(
                    f"HTTP {status} body of {len(resp.content)} bytes is not valid JSON ({exc})",
                    broken_body=True,
                ) from None
        message = self.scrub(_server_message(resp, self.scrub))
        at = where(site, endpoint)
        if status in AUTH_STATUSES:
            raise AceAuthError(
                f"ACE rejected the API token (HTTP {status}) {at}: {message}",
                site=site, endpoint=endpoint, status=status, server_message=message,
            )
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(resp.headers.get("Retry-After")) if status == 429 else None
            raise Transient(f"HTTP {status}: {message}", retry_after=retry_after, status=status)
        if status == 404:
            raise AceNotFoundError(f"ACE answered HTTP 404 {at}: {message}", site=site, endpoint=endpoint,
                                   status=status, server_message=message)
        raise AceError(f"ACE answered HTTP {status} {at}: {message}", site=site, endpoint=endpoint,
                       status=status, server_message=message)

    def get_json(
        self,
        path: str,
        params: Params,
        *,
        site: str | None,
        parse: Callable[[bytes], Any] | None = None,
        on_broken: Callable[[], bool] | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> tuple[httpx.Response, Any]:
        """GET `path` with bounded retries -> (response, parsed body).

        `params` is a mapping, or a callable asked per attempt (it may change between
        attempts). `parse(content)` replaces orjson and may raise `Transient` for a
        retryable bad body. `on_broken()` is asked after BROKEN_IN_A_ROW_TO_SHRINK broken
        bodies in a row; True means the request was changed and the retry budget starts
        afresh. `on_retry()` is called before each retry.
        """
        params_fn = params if callable(params) else (lambda: params)
        endpoint = f"GET {path}"
        attempts = 0
        total_attempts = 0
        broken_in_a_row = 0
        while True:
            attempts += 1
            total_attempts += 1
            try:
                return self._attempt(path, params_fn(), site, endpoint, parse)
            except Transient as exc:
                last = exc
            if last.broken_body:
                broken_in_a_row += 1
                if on_broken is not None and broken_in_a_row >= BROKEN_IN_A_ROW_TO_SHRINK and on_broken():
                    broken_in_a_row = 0
                    attempts = 0
            else:
                broken_in_a_row = 0
            if attempts > self.max_retries:
                raise AceRetriesExhausted(
                    f"ACE request {where(site, endpoint)} failed after {total_attempts} attempts "
                    f"({self.max_retries} retries); last error: {last.description}",
                    last_error=last.description, attempts=total_attempts, site=site, endpoint=endpoint,
                    status=last.status,
                )
            delay = self._backoff(max(attempts, 1))
            if last.retry_after is not None:
                # Retry-After: 0 (or a tiny value) must not turn backoff into a tight loop.
                delay = min(max(last.retry_after, self._backoff(1)), RETRY_AFTER_MAX_S)
            if on_retry is not None:
                on_retry()
            log.warning(
                "ACE %s %s: %s; retry %d/%d in %.2fs",
                endpoint, f"site {site!r}" if site else "", last.description, attempts, self.max_retries, delay,
            )
            if delay > 0:
                self._sleep(delay)
