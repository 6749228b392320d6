"""The cursor stream of one timeseries window: pages in, RecordBatches out.

- 404 on the first page is ambiguous (ACE answers 404 "No data for time period" for an
  empty window), so the stream asks `check_site()`: it raises AceNotFoundError when the
  site does not exist; else the window is empty -> zero batches and `no_data=True`. A 404
  after the first page (a cursor in hand) is an AceProtocolError.
- A page whose body breaks mid-transfer twice in a row at the same page size is asked
  again, at the same cursor, at the next smaller allowed size (not below `min_page_size`);
  that size is kept for the rest of the stream, logged, and reported in
  `stats()["page_size"]`. Each shrink restarts that page's retry budget.
- A hostile or broken server cannot keep the stream going forever: an empty page whose
  `next_cursor` was seen before, a cursor repeated more than MAX_CURSOR_REPEATS times, the
  same samples sent again under fresh cursors more than MAX_PAGE_REPEATS times, or more
  than `max_pages` pages is an AceProtocolError; the whole window, retries included, runs
  within `budget_s` (AceDeadlineExceeded). `has_more` must be a boolean (or null/absent:
  false). Every error raised here names the site, the endpoint and the window.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterator, Protocol

import pyarrow as pa

from bv_ace.errors import AceError, AceNotFoundError, AceProtocolError, with_context
from bv_ace.pages import PAGE_SIZE_ALLOWED, TimeseriesPage
from bv_ace.transport import where

log = logging.getLogger("bv.ace")

MAX_CURSOR_REPEATS = 3
MAX_CURSOR_CHARS = 8192  # today's cursors are ~100 chars; a cursor must fit in a URL
MAX_PAGE_REPEATS = 3  # the same non-empty page body (cursor aside) seen this many times again: looping


class FetchPage(Protocol):
    def __call__(self, params: Callable[[], dict], *, on_broken: Callable[[], bool],
                 on_retry: Callable[[], None], deadline: float) -> tuple[TimeseriesPage, int]:
        """One page with retries -> (page, bytes received). `params()` is asked per attempt;
        `on_broken()` may shrink the page size; `on_retry()` counts retries; nothing runs
        past `deadline` (time.monotonic()). Raises AceNotFoundError on 404 and ValueError
        for samples that break the contract."""


class TimeseriesStream:
    """One window of one site, iterated once: yields a RAW_SAMPLE_SCHEMA RecordBatch per
    non-empty page as the page arrives. `stats()` reports on the iteration."""

    def __init__(self, site: str, start: str, end: str, page_size: int, *, min_page_size: int,
                 endpoint: str, fetch_page: FetchPage, check_site: Callable[[float], object],
                 budget_s: float, max_pages: int):
        self.site = site
        self.start = start
        self.end = end
        self._page_size = page_size
        self._min_page_size = min_page_size
        self._endpoint = endpoint
        self._fetch_page = fetch_page
        self._check_site = check_site
        self.budget_s = float(budget_s)
        self.max_pages = int(max_pages)
        self._started = False
        self._t0: float | None = None
        self._elapsed: float | None = None
        self._retries = 0
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
            "retries": self._retries,
            "bytes_received": self._bytes,
            "page_size": self._page_size,
            "no_data": self._no_data_404 or (self._done and self._samples == 0),
            "elapsed_s": elapsed,
        }

    def _count_retry(self) -> None:
        self._retries += 1

    def _shrink(self) -> bool:
        smaller = [s for s in PAGE_SIZE_ALLOWED if self._min_page_size <= s < self._page_size]
        if not smaller:
            return False
        old, self._page_size = self._page_size, smaller[-1]
        log.warning(
            "ACE timeseries for site %r: pages of %d samples keep breaking mid-transfer; "
            "continuing with page_size=%d", self.site, old, self._page_size,
        )
        return True

    def _params(self, cursor: str | None) -> dict:
        p = {"start_time": self.start, "end_time": self.end, "page_size": self._page_size, "raw_data": "true"}
        if cursor:
            p["cursor"] = cursor
        return p

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

    def _where(self) -> str:
        return (f"{where(self.site, self._endpoint)}, window {self.start}..{self.end}, "
                f"after {self._pages} pages ({self._samples} samples)")

    def _fail(self, what: str, **kwargs) -> AceProtocolError:
        return AceProtocolError(f"ACE timeseries {self._where()}: {what}", site=self.site,
                                endpoint=self._endpoint, window=f"{self.start}..{self.end}", **kwargs)

    def _run(self) -> Iterator[pa.RecordBatch]:
        deadline = self._t0 + self.budget_s
        try:
            yield from self._pages_of_window(deadline)
        except AceError as exc:
            if exc.window is not None:
                raise
            window = f"{self.start}..{self.end}"
            raise with_context(exc, f"timeseries window {window}, after {self._pages} pages "
                                    f"({self._samples} samples)", window=window) from None

    def _pages_of_window(self, deadline: float) -> Iterator[pa.RecordBatch]:
        site = self.site
        cursor: str | None = None
        seen: dict[str, int] = {}
        bodies: dict[bytes, int] = {}
        while True:
            if self._pages >= self.max_pages:
                raise self._fail(f"did not end within {self.max_pages} pages (max_pages); the server "
                                 "keeps answering has_more with new cursors")
            try:
                page, nbytes = self._fetch_page(lambda cursor=cursor: self._params(cursor),
                                                on_broken=self._shrink, on_retry=self._count_retry,
                                                deadline=deadline)
            except ValueError as exc:
                raise self._fail(f"page {self._pages + 1}: {exc}") from None
            except AceNotFoundError as exc:
                if cursor is not None:
                    raise self._fail(f"ACE answered 404 in the middle of the stream: {exc.server_message}",
                                     status=404) from None
                self._check_site(deadline)  # raises AceNotFoundError when the site does not exist
                log.info("ACE timeseries for site %r %s..%s: no data (HTTP 404: %s)", site, self.start,
                         self.end, exc.server_message)
                self._no_data_404 = True
                return
            self._pages += 1
            self._bytes += nbytes
            has_more = page.has_more
            next_cursor = page.next_cursor
            if next_cursor is not None and not isinstance(next_cursor, str):
                raise self._fail(f"next_cursor is of type {type(next_cursor).__name__}, not a string")
            if next_cursor is not None and has_more is True:
                if len(next_cursor) > MAX_CURSOR_CHARS:
                    raise self._fail(f"next_cursor is {len(next_cursor):,} characters long (at most "
                                     f"{MAX_CURSOR_CHARS:,} fit in a request URL)")
                try:
                    next_cursor.encode("utf-8")
                except UnicodeEncodeError:
                    raise self._fail("next_cursor is not valid Unicode text") from None
            if has_more is not None and not isinstance(has_more, bool):
                raise self._fail(f"has_more is of type {type(has_more).__name__} ({str(has_more)[:40]!r}), "
                                 "not a boolean")
            page_empty = page.batch is None
            if not page_empty:
                repeats = bodies[page.fingerprint] = bodies.get(page.fingerprint, -1) + 1
                if repeats > MAX_PAGE_REPEATS:
                    raise self._fail(f"is looping: the same page of {page.samples} samples came "
                                     f"{repeats + 1} times under different cursors")
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
                         self._retries)
                return
            if next_cursor in seen:
                seen[next_cursor] += 1
                if page_empty or seen[next_cursor] > MAX_CURSOR_REPEATS:
                    raise self._fail("is looping: it returned the same cursor again with no progress")
            else:
                seen[next_cursor] = 0
            cursor = next_cursor
