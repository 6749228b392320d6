"""The ACE IoT FlightDeck API client (httpx): auth, paging, retries, pacing, typed errors.

A plain class: the Dagster resource (`ace_resource.AceResource`), the tests and the CLI
all build an `AceClient` and call it directly. It follows /work/shared/ace-api.md.

Rules worth knowing (each is tested in tests/test_ace_client.py):

- Auth is `Authorization: Bearer <api_key>`. The key never appears in logs, exception
  messages, `repr()` or stats; anything a server echoes back is scrubbed of it.
- Retried (exponential backoff with jitter, capped at `backoff_max_s`; `Retry-After` of a
  429 honoured, seconds or HTTP-date): 429, 500, 502, 503, 504, timeouts, connection
  errors, dropped connections / incomplete bodies, a body that is not valid JSON, and a
  timeseries page without `point_samples`. At most `max_retries` retries per request
  (`max_retries + 1` attempts), then `AceRetriesExhausted`.
- 401/403/422 -> `AceAuthError` at once. Other 4xx -> `AceError` with the server message.
- 404 rule: on a site endpoint (`/sites/{site}`, its points) a 404 is `AceNotFoundError`.
  On the first timeseries page a 404 is ambiguous (ACE answers 404 "No data for time
  period" for an empty window), so the client asks `GET /sites/{site}`: if that is 404 too
  the site does not exist -> `AceNotFoundError`; if the site exists the window is empty ->
  zero batches and `no_data=True`. A 404 after the first page (a cursor in hand) is an
  `AceProtocolError`: the server withdrew data it was paging through.
- A timeseries page whose body breaks mid-transfer (incomplete read, truncated JSON) twice
  in a row at the same page size is asked again at the next smaller allowed page size (not
  below `min_page_size`), at the same cursor; the smaller size is kept for the rest of the
  stream, logged as a warning and reported in `stats()["page_size"]`. Each shrink starts
  that page's retry budget afresh, so the attempts of one page are bounded by
  `(max_retries + 1) * number_of_page_sizes`.
- No cap on the number of pages, but a page with no samples whose `next_cursor` was seen
  before (the server loops) is an `AceProtocolError`, as is a cursor repeated more than
  `_MAX_CURSOR_REPEATS` times even with samples.
- Times sent as `YYYY-MM-DDTHH:MM:SSZ` in UTC (naive datetimes are UTC). Sub-second parts
  are floored for `start` and ceiled for `end`, so no sample of the window is lost.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator
from urllib.parse import quote

import httpx
import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from bv_resources.ace_errors import (
    AceAuthError,
    AceError,
    AceNotFoundError,
    AceProtocolError,
    AceRetriesExhausted,
)
from bv_resources.pacer import RequestPacer

log = logging.getLogger("bv.ace")

RAW_SAMPLE_SCHEMA = pa.schema(
    [("name", pa.string()), ("value", pa.string()), ("time", pa.string())]
)

LIST_PER_PAGE_ALLOWED = (2, 10, 20, 30, 40, 50, 100, 500, 1000, 5000, 10000, 100000)
PAGE_SIZE_ALLOWED = (3, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000, 300000, 500000)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403, 422})
RETRY_AFTER_MAX_S = 300.0  # a Retry-After beyond this is clamped (a run should not hang for hours)
_MAX_CURSOR_REPEATS = 3
_BROKEN_IN_A_ROW_TO_SHRINK = 2
_MSG_MAX = 300
_MSG_SCAN = 8192  # how much of an error body is read (and scrubbed) before cutting to _MSG_MAX
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")


class _Transient(Exception):
    """One failed attempt that may succeed when retried."""

    def __init__(self, description: str, *, retry_after: float | None = None, broken_body: bool = False,
                 status: int | None = None):
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after
        self.broken_body = broken_body
        self.status = status


def format_api_time(dt: datetime, *, ceil: bool = False) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC; naive = UTC. Sub-seconds floored (or ceiled)."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    else:
        dt = dt.astimezone(timezone.utc)
    if dt.microsecond:
        dt = dt.replace(microsecond=0)
        if ceil:
            dt += timedelta(seconds=1)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


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


def samples_to_batch(samples: list) -> pa.RecordBatch:
    """`point_samples` (list of {"name","value","time"}) -> RecordBatch of RAW_SAMPLE_SCHEMA.

    Column-wise: three list comprehensions and three Arrow string arrays. A missing or null
    value is null; a non-string value (not in the contract, but cheap to tolerate) becomes
    its JSON text ("71.0", "true"). A sample without a string name or time is an
    AceProtocolError (raised as ValueError here; the caller wraps it).
    """
    try:
        names = [s["name"] for s in samples]
        times = [s["time"] for s in samples]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a point sample lacks 'name' or 'time' ({type(exc).__name__}: {exc})") from None
    values = [s.get("value") for s in samples]
    try:
        name_arr = pa.array(names, pa.string())
        time_arr = pa.array(times, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise ValueError(f"a point sample has a non-string 'name' or 'time' ({exc})") from None
    if name_arr.null_count or time_arr.null_count:
        raise ValueError("a point sample has a null 'name' or 'time'")
    try:
        value_arr = pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        value_arr = pa.array(
            [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values],
            pa.string(),
        )
    return pa.RecordBatch.from_arrays([name_arr, value_arr, time_arr], schema=RAW_SAMPLE_SCHEMA)


_SAMPLE_STRUCT = pa.struct(list(RAW_SAMPLE_SCHEMA))
_PAGE_SCHEMA = pa.schema(
    [("point_samples", pa.list_(_SAMPLE_STRUCT)), ("next_cursor", pa.string()), ("has_more", pa.bool_())]
)
_PAGE_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=_PAGE_SCHEMA, unexpected_field_behavior="ignore")


class TimeseriesPage:
    """One parsed timeseries page: the samples as a batch (None when empty) and the paging fields."""

    __slots__ = ("batch", "samples", "next_cursor", "has_more")

    def __init__(self, batch: pa.RecordBatch | None, next_cursor: Any, has_more: Any):
        self.batch = batch
        self.samples = 0 if batch is None else batch.num_rows
        self.next_cursor = next_cursor
        self.has_more = has_more


def _parse_page_arrow(content: bytes) -> TimeseriesPage | None:
    """Fast path: Arrow's JSON reader straight into string columns, no Python objects per
    sample. Returns None whenever the body is anything but a clean, contract-shaped page
    (invalid JSON, non-string values, a missing name/time, ...): the orjson path then
    decides, with a precise error."""
    try:
        table = pa_json.read_json(
            pa.BufferReader(content),
            read_options=pa_json.ReadOptions(block_size=max(len(content) + 1, 1 << 20)),
            parse_options=_PAGE_PARSE_OPTIONS,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != 1:
        return None
    col = table.column("point_samples")
    if col.null_count:
        return None
    structs = col.combine_chunks().flatten() if col.num_chunks != 1 else col.chunk(0).flatten()
    if structs.null_count:
        return None
    name, value, ts = structs.flatten()
    if name.null_count or ts.null_count:
        return None
    next_cursor = table.column("next_cursor")[0].as_py()
    has_more = table.column("has_more")[0].as_py()
    batch = None
    if len(structs):
        batch = pa.RecordBatch.from_arrays([name, value, ts], schema=RAW_SAMPLE_SCHEMA)
    return TimeseriesPage(batch, next_cursor, has_more)


def parse_timeseries_page(content: bytes) -> TimeseriesPage:
    """A timeseries page body -> TimeseriesPage.

    Raises `_Transient` (retryable; `broken_body` when the JSON is invalid, e.g. truncated)
    for a body that is not JSON or has no `point_samples` list, and ValueError for samples
    that break the contract (no name/time).
    """
    page = _parse_page_arrow(content)
    if page is not None:
        return page
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise _Transient(f"timeseries body of {len(content)} bytes is not valid JSON ({exc})",
                         broken_body=True) from None
    if not isinstance(body, dict) or not isinstance(body.get("point_samples"), list):
        what = type(body).__name__ if not isinstance(body, dict) else f"keys {sorted(body)[:10]}"
        raise _Transient(f"timeseries page without a point_samples list ({what})")
    samples = body["point_samples"]
    batch = samples_to_batch(samples) if samples else None
    return TimeseriesPage(batch, body.get("next_cursor"), body.get("has_more"))


def _server_message(resp: httpx.Response, scrub=lambda t: t) -> str:
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


class AceClient:
    """Client of the ACE FlightDeck API. Thread-safe; use as a context manager or close()."""

    def __init__(
        self,
        api_base: str,
        api_key: str,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        requests_per_minute: float = 600,
        max_concurrency: int = 4,
        page_size: int = 50_000,
        min_page_size: int = 1_000,
        list_per_page: int = 1000,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not api_base:
            raise ValueError("api_base is empty: set ACE_API_BASE")
        if not api_key:
            raise ValueError("the ACE API key is empty: set ACE_API_KEY")
        if page_size not in PAGE_SIZE_ALLOWED:
            raise ValueError(f"page_size {page_size} is not one ACE allows: {PAGE_SIZE_ALLOWED}")
        if min_page_size not in PAGE_SIZE_ALLOWED or min_page_size > page_size:
            raise ValueError(
                f"min_page_size {min_page_size} must be an allowed page size <= page_size {page_size}"
            )
        if list_per_page not in LIST_PER_PAGE_ALLOWED:
            raise ValueError(f"list_per_page {list_per_page} is not one ACE allows: {LIST_PER_PAGE_ALLOWED}")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.api_base = api_base.rstrip("/")
        self._api_key = api_key
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self.page_size = int(page_size)
        self.min_page_size = int(min_page_size)
        self.list_per_page = int(list_per_page)
        self._sleep = sleep
        self.pacer = RequestPacer(requests_per_minute, max_concurrency)
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=max(max_concurrency, 1) + 2,
                                max_keepalive_connections=max(max_concurrency, 1)),
            transport=transport,
            follow_redirects=False,
        )

    # -- lifecycle ---------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"AceClient(api_base={self.api_base!r}, api_key='***', max_retries={self.max_retries}, "
                f"page_size={self.page_size}, pacer={self.pacer!r})")

    def __enter__(self) -> "AceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- helpers -----------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        key = self._api_key
        if key and key in text:
            text = text.replace(key, "***")
        # A server may echo the header back ("Bearer <token>"), and a cut message may hold
        # only the start of the key: both go too.
        text = _BEARER.sub("Bearer ***", text)
        if key and len(key) >= 16:
            for size in range(len(key) - 1, 15, -1):
                if key[:size] in text:
                    text = text.replace(key[:size], "***")
                    break
        return text

    @staticmethod
    def _site_path(site: str, suffix: str = "") -> str:
        if not isinstance(site, str) or not site:
            raise ValueError(f"site must be a non-empty string, got {site!r}")
        return f"/sites/{quote(site, safe='')}{suffix}"

    def _where(self, site: str | None, endpoint: str) -> str:
        return f"for site {site!r} at {endpoint}" if site else f"at {endpoint}"

    def _backoff(self, retry_number: int) -> float:
        """Delay before retry `retry_number` (1-based): exponential, capped, 'equal jitter'."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** (retry_number - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _attempt(self, path: str, params: dict, site: str | None, endpoint: str,
                 parse: Callable[[bytes], Any] | None = None) -> tuple[httpx.Response, Any]:
        """One request. Returns (response, parsed body) on 2xx; raises _Transient or AceError.
        The body is parsed after the pacer slot is released."""
        url = self.api_base + path
        with self.pacer.slot():
            try:
                resp = self._http.get(url, params=params)
            except httpx.TimeoutException as exc:
                raise _Transient(f"timed out after {self.timeout_s:g}s ({type(exc).__name__})") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.DecodingError) as exc:
                raise _Transient(
                    f"connection broke mid-response ({type(exc).__name__}: {self._scrub(str(exc))})",
                    broken_body=True,
                ) from None
            except httpx.TransportError as exc:
                raise _Transient(f"connection error ({type(exc).__name__}: {self._scrub(str(exc))})") from None
        status = resp.status_code
        if 200 <= status < 300:
            if parse is not None:
                return resp, parse(resp.content)
            try:
                return resp, orjson.loads(resp.content)
            except orjson.JSONDecodeError as exc:
                raise _Transient(
                    f"HTTP {status} body of {len(resp.content)} bytes is not valid JSON ({exc})",
                    broken_body=True,
                ) from None
        message = self._scrub(_server_message(resp, scrub=self._scrub))
        where = self._where(site, endpoint)
        if status in AUTH_STATUSES:
            raise AceAuthError(
                f"ACE rejected the API token (HTTP {status}) {where}: {message}",
                site=site, endpoint=endpoint, status=status, server_message=message,
            )
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(resp.headers.get("Retry-After")) if status == 429 else None
            raise _Transient(f"HTTP {status}: {message}", retry_after=retry_after, status=status)
        if status == 404:
            raise AceNotFoundError(f"ACE answered HTTP 404 {where}: {message}", site=site, endpoint=endpoint,
                                   status=status, server_message=message)
        raise AceError(f"ACE answered HTTP {status} {where}: {message}", site=site, endpoint=endpoint,
                       status=status, server_message=message)

    def _call(
        self,
        path: str,
        params_fn: Callable[[], dict],
        site: str | None,
        *,
        parse: Callable[[bytes], Any] | None = None,
        on_broken: Callable[[], bool] | None = None,
        counters: dict | None = None,
    ) -> tuple[httpx.Response, Any]:
        """A request with bounded retries. `params_fn` is called per attempt (the page size
        may shrink between attempts). `parse(content)` replaces orjson and may raise
        _Transient for a retryable bad body. `on_broken()` is asked after two broken bodies
        in a row; returning True means the request was changed (page size shrunk) and the retry budget starts afresh."""
        endpoint = f"GET {path}"
        attempts = 0
        total_attempts = 0
        last: _Transient | None = None
        broken_in_a_row = 0
        while True:
            attempts += 1
            total_attempts += 1
            try:
                return self._attempt(path, params_fn(), site, endpoint, parse)
            except _Transient as exc:
                last = exc
            if last.broken_body:
                broken_in_a_row += 1
                if on_broken is not None and broken_in_a_row >= _BROKEN_IN_A_ROW_TO_SHRINK and on_broken():
                    broken_in_a_row = 0
                    attempts = 0
            else:
                broken_in_a_row = 0
            if attempts > self.max_retries:
                raise AceRetriesExhausted(
                    f"ACE request {self._where(site, endpoint)} failed after {total_attempts} attempts "
                    f"({self.max_retries} retries); last error: {last.description}",
                    last_error=last.description, attempts=total_attempts, site=site, endpoint=endpoint,
                    status=last.status,
                )
            delay = self._backoff(max(attempts, 1))
            if last.retry_after is not None:
                # Retry-After: 0 (or a tiny value) must not turn backoff into a tight loop.
                delay = min(max(last.retry_after, self._backoff(1)), RETRY_AFTER_MAX_S)
            if counters is not None:
                counters["retries"] = counters.get("retries", 0) + 1
            log.warning(
                "ACE %s %s: %s; retry %d/%d in %.2fs",
                endpoint, f"site {site!r}" if site else "", last.description, attempts, self.max_retries, delay,
            )
            if delay > 0:
                self._sleep(delay)

    def _list(self, path: str, site: str | None, extra: dict | None = None) -> list[dict]:
        items: list[dict] = []
        page = 1
        endpoint = f"GET {path}"
        while True:
            params = {"page": page, "per_page": self.list_per_page, **(extra or {})}
            _, body = self._call(path, lambda params=params: params, site)
            if not isinstance(body, dict):
                raise AceProtocolError(
                    f"ACE {endpoint} {self._where(site, endpoint)} returned a {type(body).__name__}, "
                    "not the {page, pages, per_page, total, items} envelope",
                    site=site, endpoint=endpoint,
                )
            page_items = body.get("items")
            pages = body.get("pages")
            if not isinstance(page_items, list) or not isinstance(pages, int) or isinstance(pages, bool):
                raise AceProtocolError(
                    f"ACE listing {self._where(site, endpoint)} page {page}: malformed envelope "
                    f"(items is {type(page_items).__name__}, pages is {type(pages).__name__}; "
                    f"keys {sorted(body)[:10]})",
                    site=site, endpoint=endpoint,
                )
            bad = next((it for it in page_items if not isinstance(it, dict)), None)
            if bad is not None:
                raise AceProtocolError(
                    f"ACE listing {self._where(site, endpoint)} page {page}: an item is a "
                    f"{type(bad).__name__}, not an object", site=site, endpoint=endpoint,
                )
            items.extend(page_items)
            if page >= pages or not page_items:
                return items
            page += 1

    # -- listing endpoints -------------------------------------------------------------
    def list_sites(self, collect_enabled: bool = True) -> list[dict]:
        return self._list("/sites/", None, {"collect_enabled": "true" if collect_enabled else "false"})

    def get_site(self, site: str) -> dict:
        path = self._site_path(site)
        endpoint = f"GET {path}"
        try:
            _, body = self._call(path, dict, site)
        except AceNotFoundError as exc:
            raise AceNotFoundError(
                f"ACE has no site {site!r} for this token (HTTP 404 at {endpoint}): {exc.server_message}",
                site=site, endpoint=endpoint, status=404,
            ) from None
        if not isinstance(body, dict):
            raise AceProtocolError(
                f"ACE {endpoint} for site {site!r} returned a {type(body).__name__}, not a site object",
                site=site, endpoint=endpoint,
            )
        return body

    def _site_list(self, site: str, suffix: str) -> list[dict]:
        path = self._site_path(site, suffix)
        try:
            return self._list(path, site)
        except AceNotFoundError as exc:
            raise AceNotFoundError(
                f"ACE has no site {site!r} for this token (HTTP 404 at GET {path}): {exc.server_message}",
                site=site, endpoint=f"GET {path}", status=404,
            ) from None

    def points(self, site: str) -> list[dict]:
        """Every discovered point of the site (collected or not)."""
        return self._site_list(site, "/points")

    def configured_points(self, site: str) -> list[dict]:
        """The collect-enabled points: the set that is synced, backfilled and archived."""
        return self._site_list(site, "/configured_points")

    # -- timeseries --------------------------------------------------------------------
    def timeseries(self, site: str, start: datetime, end: datetime, *, page_size: int | None = None
                   ) -> "TimeseriesStream":
        """Raw samples of every point of `site` in [start, end), streamed page by page."""
        size = self.page_size if page_size is None else int(page_size)
        if size not in PAGE_SIZE_ALLOWED:
            raise ValueError(f"page_size {size} is not one ACE allows: {PAGE_SIZE_ALLOWED}")
        start_s = format_api_time(start)
        end_s = format_api_time(end, ceil=True)
        if start_s >= end_s:
            raise ValueError(f"empty or reversed window: start {start_s} is not before end {end_s}")
        return TimeseriesStream(self, site, start_s, end_s, size)


class TimeseriesStream:
    """One window of one site, iterated once: yields a RAW_SAMPLE_SCHEMA RecordBatch per
    non-empty page as the page arrives. `stats()` reports on the iteration."""

    def __init__(self, client: AceClient, site: str, start: str, end: str, page_size: int):
        self._client = client
        self.site = site
        self.start = start
        self.end = end
        self._path = client._site_path(site, "/timeseries/paginated")
        self._page_size = page_size
        self._started = False
        self._t0: float | None = None
        self._elapsed: float | None = None
        self._counters = {"retries": 0}
        self._pages = 0
        self._empty_pages = 0
        self._samples = 0
        self._bytes = 0
        self._no_data_404 = False
        self._done = False

    def __repr__(self) -> str:
        return (f"TimeseriesStream(site={self.site!r}, start={self.start!r}, end={self.end!r}, "
                f"page_size={self._page_size})")

    def stats(self) -> dict:
        elapsed = self._elapsed
        if elapsed is None:
            elapsed = 0.0 if self._t0 is None else time.monotonic() - self._t0
        return {
            "pages": self._pages,
            "empty_pages": self._empty_pages,
            "samples": self._samples,
            "retries": self._counters["retries"],
            "bytes_received": self._bytes,
            "page_size": self._page_size,
            "no_data": self._no_data_404 or (self._done and self._samples == 0),
            "elapsed_s": elapsed,
        }

    def _shrink(self) -> bool:
        smaller = [s for s in PAGE_SIZE_ALLOWED if self._client.min_page_size <= s < self._page_size]
        if not smaller:
            return False
        old, self._page_size = self._page_size, smaller[-1]
        log.warning(
            "ACE timeseries for site %r: pages of %d samples keep breaking mid-transfer; "
            "continuing with page_size=%d", self.site, old, self._page_size,
        )
        return True

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self._started:
            raise RuntimeError("a TimeseriesStream can be iterated only once; call client.timeseries() again")
        self._started = True
        self._t0 = time.monotonic()
        try:
            yield from self._run()
            self._done = True
        finally:
            self._elapsed = time.monotonic() - self._t0

    def _run(self) -> Iterator[pa.RecordBatch]:
        client = self._client
        site = self.site
        endpoint = f"GET {self._path}"
        cursor: str | None = None
        seen: dict[str, int] = {}
        while True:
            def params(cursor=cursor) -> dict:
                p = {"start_time": self.start, "end_time": self.end, "page_size": self._page_size,
                     "raw_data": "true"}
                if cursor:
                    p["cursor"] = cursor
                return p

            try:
                resp, page = client._call(self._path, params, site, parse=parse_timeseries_page,
                                          on_broken=self._shrink, counters=self._counters)
            except ValueError as exc:
                raise AceProtocolError(
                    f"ACE timeseries {client._where(site, endpoint)} page {self._pages + 1}: {exc}",
                    site=site, endpoint=endpoint,
                ) from None
            except AceNotFoundError as exc:
                if cursor is not None:
                    raise AceProtocolError(
                        f"ACE answered 404 in the middle of a timeseries {client._where(site, endpoint)} "
                        f"after {self._pages} pages ({self._samples} samples): {exc.server_message}",
                        site=site, endpoint=endpoint, status=404,
                    ) from None
                # Ambiguous 404: unknown site, or an empty window? Ask the site itself.
                client.get_site(site)  # raises AceNotFoundError when the site does not exist
                log.info("ACE timeseries for site %r %s..%s: no data (HTTP 404: %s)", site, self.start,
                         self.end, exc.server_message)
                self._no_data_404 = True
                return
            self._pages += 1
            self._bytes += len(resp.content)
            del resp
            has_more = page.has_more
            next_cursor = page.next_cursor
            if next_cursor is not None and not isinstance(next_cursor, str):
                raise AceProtocolError(
                    f"ACE timeseries {client._where(site, endpoint)}: next_cursor is a "
                    f"{type(next_cursor).__name__}, not a string", site=site, endpoint=endpoint,
                )
            page_empty = page.batch is None
            if not page_empty:
                batch = page.batch
                del page  # keep memory flat: the consumer holds only the batch
                self._samples += batch.num_rows
                log.debug("ACE timeseries %r page %d: %d samples", site, self._pages, batch.num_rows)
                yield batch
                del batch
            else:
                self._empty_pages += 1
            if not (has_more and next_cursor):
                if has_more and not next_cursor:
                    log.warning("ACE timeseries for site %r: has_more without next_cursor; "
                                "treating the window as complete", site)
                log.info("ACE timeseries for site %r %s..%s: %d samples in %d pages (%d empty, %d retries)",
                         site, self.start, self.end, self._samples, self._pages, self._empty_pages,
                         self._counters["retries"])
                return
            if next_cursor in seen:
                seen[next_cursor] += 1
                if page_empty or seen[next_cursor] > _MAX_CURSOR_REPEATS:
                    raise AceProtocolError(
                        f"ACE timeseries {client._where(site, endpoint)} is looping: it returned the "
                        f"same cursor again with no progress after {self._pages} pages "
                        f"({self._samples} samples)", site=site, endpoint=endpoint,
                    )
            else:
                seen[next_cursor] = 0
            cursor = next_cursor
