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
- Bounded: a body is decoded by `bv_ace.body` within `max_response_bytes` (a gzip bomb
  stops there: `AceProtocolError`, not retried); an optional deadline bounds a request with
  all its retries, backoff and slow bodies (`AceDeadlineExceeded`). A 2xx body that is
  declared as something other than JSON (an HTML page) is retried and reported as such.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import time
from datetime import timezone
from typing import Any, Callable, Mapping, NamedTuple, Union

import httpx
import orjson

from bv_ace.body import ACCEPT_ENCODING, BodyBroken, BodyEncodingUnknown, BodyOutOfTime, BodyTooLarge, read_body
from bv_ace.errors import (
    AceAuthError,
    AceDeadlineExceeded,
    AceError,
    AceNotFoundError,
    AceProtocolError,
    AceRetriesExhausted,
)
from bv_ace.pacer import RequestPacer

log = logging.getLogger("bv.ace")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403, 422})
RETRY_AFTER_MAX_S = 300.0  # a Retry-After beyond this is clamped (a run should not hang for hours)
BROKEN_IN_A_ROW_TO_SHRINK = 2  # broken bodies in a row before `on_broken` is asked
_MSG_MAX = 300
_MSG_SCAN = 8192  # how much of an error body is read (and scrubbed) before cutting to _MSG_MAX
_ERROR_BODY_CAP = 64 * 1024  # an error body is read for its message only
_HEAD = 120  # how much of a non-JSON 2xx body a message quotes
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024  # decoded; a 500,000-sample page is ~75 MB
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


def _server_message(status: int, reason: str, content: bytes, scrub: Callable[[str], str]) -> str:
    """The server's error text: JSON `msg`/`message`/`error`/`detail`, else the body head.
    Scrubbed of the key before it is cut, so a cut can never leave part of a key behind."""
    text = ""
    try:
        body = orjson.loads(content)
        if isinstance(body, dict):
            for key in ("msg", "message", "error", "detail"):
                if body.get(key):
                    text = str(body[key])
                    break
        if not text:
            text = content[:_MSG_SCAN].decode("utf-8", "replace")
    except Exception:
        text = content[:_MSG_SCAN].decode("utf-8", "replace")
    text = scrub(" ".join(text.split()))
    return text[:_MSG_MAX] or reason or f"HTTP {status}"


class Answer(NamedTuple):
    """A 2xx answer: status, headers and the decoded body (already within the size cap)."""

    status: int
    headers: httpx.Headers
    content: bytes


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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ):
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be >= 1")
        self.max_response_bytes = int(max_response_bytes)
        self.api_base = api_base.rstrip("/")
        self._api_key = api_key
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self._sleep = sleep
        self.pacer = RequestPacer(requests_per_minute, max_concurrency)
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                     "Accept-Encoding": ACCEPT_ENCODING},
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

    def _timeout(self, deadline: float | None) -> httpx.Timeout:
        """The per-phase timeout, shortened so no single read can outlive the deadline."""
        if deadline is None:
            return httpx.Timeout(self.timeout_s)
        return httpx.Timeout(max(0.05, min(self.timeout_s, deadline - time.monotonic())))

    def _attempt(self, path: str, params: Mapping[str, Any], site: str | None, endpoint: str,
                 parse: Callable[[bytes], Any] | None, deadline: float | None) -> tuple[Answer, Any]:
        """One request. Returns (answer, parsed body) on 2xx; raises Transient, AceError,
        or BodyOutOfTime. The body is decoded within `max_response_bytes` while the pacer
        slot is held (as before: the exchange), and parsed after it is released."""
        at = where(site, endpoint)
        with self.pacer.slot():
            try:
                with self._http.stream("GET", self.api_base + path, params=params,
                                       timeout=self._timeout(deadline)) as resp:
                    status = resp.status_code
                    ok = 200 <= status < 300
                    try:
                        content = read_body(resp, cap=self.max_response_bytes if ok else _ERROR_BODY_CAP,
                                            deadline=deadline, truncate=not ok)
                    except (BodyBroken, BodyEncodingUnknown) as exc:
                        if ok:
                            raise
                        content = str(exc).encode()
                    headers, reason = resp.headers, resp.reason_phrase
            except httpx.TimeoutException as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    raise BodyOutOfTime(f"no answer before the time budget ran out ({type(exc).__name__})") from None
                raise Transient(f"timed out after {self.timeout_s:g}s ({type(exc).__name__})") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.DecodingError) as exc:
                raise Transient(
                    f"connection broke mid-response ({type(exc).__name__}: {self.scrub(str(exc))})",
                    broken_body=True,
                ) from None
            except httpx.TransportError as exc:
                raise Transient(f"connection error ({type(exc).__name__}: {self.scrub(str(exc))})") from None
            except (httpx.InvalidURL, UnicodeEncodeError) as exc:
                raise AceError(f"ACE request {at} cannot be sent: {self.scrub(str(exc))[:_MSG_MAX]}",
                               site=site, endpoint=endpoint) from None
            except BodyBroken as exc:
                raise Transient(f"HTTP {status} {exc}", broken_body=True, status=status) from None
            except BodyEncodingUnknown as exc:
                raise AceProtocolError(f"ACE answered {at} with a body it cannot decode: {exc}",
                                       site=site, endpoint=endpoint, status=status) from None
            except BodyTooLarge as exc:
                raise AceProtocolError(
                    f"ACE answered {at} with a response too large to take: {exc} "
                    f"(max_response_bytes {self.max_response_bytes:,}); not retried",
                    site=site, endpoint=endpoint, status=status,
                ) from None
        if 200 <= status < 300:
            answer = Answer(status, headers, content)
            try:
                if parse is not None:
                    return answer, parse(content)
                try:
                    return answer, orjson.loads(content)
                except orjson.JSONDecodeError as exc:
                    raise Transient(
                        f"HTTP {status} body of {len(content)} bytes is not valid JSON ({exc})",
                        broken_body=True,
                    ) from None
            except Transient as exc:
                raise self._not_json(exc, answer) from None
        message = self.scrub(_server_message(status, reason, content, self.scrub))
        if status in AUTH_STATUSES:
            raise AceAuthError(
                f"ACE rejected the API token (HTTP {status}) {at}: {message}",
                site=site, endpoint=endpoint, status=status, server_message=message,
            )
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(headers.get("Retry-After")) if status == 429 else None
            raise Transient(f"HTTP {status}: {message}", retry_after=retry_after, status=status)
        if status == 404:
            raise AceNotFoundError(f"ACE answered HTTP 404 {at}: {message}", site=site, endpoint=endpoint,
                                   status=status, server_message=message)
        raise AceError(f"ACE answered HTTP {status} {at}: {message}", site=site, endpoint=endpoint,
                       status=status, server_message=message)

    def _not_json(self, exc: Transient, answer: Answer) -> Transient:
        """A 2xx body that did not parse. Declared as something other than JSON (an HTML
        proxy or maintenance page): say so, quote its head, and do not treat it as a body
        that broke in transfer (a smaller page would not cure it)."""
        ctype = answer.headers.get("content-type", "")
        if not exc.broken_body or not ctype or "json" in ctype.lower():
            return exc
        head = self.scrub(" ".join(answer.content[:_MSG_SCAN].decode("utf-8", "replace").split()))[:_HEAD]
        return Transient(f"HTTP {answer.status} answered Content-Type {ctype!r} ({len(answer.content)} bytes), "
                         f"not JSON: {head!r}", status=answer.status)

    def get_json(
        self,
        path: str,
        params: Params,
        *,
        site: str | None,
        parse: Callable[[bytes], Any] | None = None,
        on_broken: Callable[[], bool] | None = None,
        on_retry: Callable[[], None] | None = None,
        deadline: float | None = None,
        budget_s: float = 0.0,
    ) -> tuple[Answer, Any]:
        """GET `path` with bounded retries -> (answer, parsed body).

        `params` is a mapping, or a callable asked per attempt (it may change between
        attempts). `parse(content)` replaces orjson and may raise `Transient` for a
        retryable bad body. `on_broken()` is asked after BROKEN_IN_A_ROW_TO_SHRINK broken
        bodies in a row; True means the request was changed and the retry budget starts
        afresh. `on_retry()` is called before each retry. `deadline` (time.monotonic())
        bounds everything, retries and backoff included: past it, AceDeadlineExceeded
        (`budget_s` is only quoted in its message).
        """
        params_fn = params if callable(params) else (lambda: params)
        endpoint = f"GET {path}"
        attempts = 0
        total_attempts = 0
        broken_in_a_row = 0
        last: Transient | None = None

        def out_of_time(what: str) -> AceDeadlineExceeded:
            last_text = last.description if last is not None else None
            return AceDeadlineExceeded(
                f"ACE request {where(site, endpoint)} ran out of its time budget ({budget_s:g}s): {what}"
                f"{'; last error: ' + last_text if last_text else ''}",
                budget_s=budget_s, last_error=last_text, site=site, endpoint=endpoint,
                status=last.status if last is not None else None,
            )

        while True:
            if deadline is not None and time.monotonic() >= deadline:
                raise out_of_time(f"{total_attempts} attempts made")
            attempts += 1
            total_attempts += 1
            try:
                return self._attempt(path, params_fn(), site, endpoint, parse, deadline)
            except BodyOutOfTime as exc:
                raise out_of_time(f"attempt {total_attempts}: {exc}") from None
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
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise out_of_time(f"{total_attempts} attempts made, the next one due in {delay:.2f}s")
            if on_retry is not None:
                on_retry()
            log.warning(
                "ACE %s %s: %s; retry %d/%d in %.2fs",
                endpoint, f"site {site!r}" if site else "", last.description, attempts, self.max_retries, delay,
            )
            if delay > 0:
                self._sleep(delay)
