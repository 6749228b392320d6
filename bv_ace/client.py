"""`AceClient`: the ACE FlightDeck API endpoints, built on `transport`, `pages` and `stream`.

A plain class: the Dagster resource (`bv_resources.ace.AceResource`), the tests and the CLI
all build an `AceClient` and call it directly. It follows docs/ace-api.md.

A 404 on a site endpoint (`/sites/{site}`, its points) is `AceNotFoundError`; for the
timeseries 404 rule see `bv_ace.stream`.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable
from urllib.parse import quote

import httpx

from bv_ace.errors import AceNotFoundError, AceProtocolError
from bv_ace.pacer import RequestPacer
from bv_ace.pages import (
    LIST_PER_PAGE_ALLOWED,
    PAGE_SIZE_ALLOWED,
    TimeseriesPage,
    format_api_time,
    parse_listing_page,
    parse_timeseries_page,
)
from bv_ace.stream import TimeseriesStream
from bv_ace.transport import DEFAULT_MAX_RESPONSE_BYTES, Transport, where

# Bounds that keep a broken or hostile server from holding a run forever (docs/ace-api.md §5.3):
# a whole timeseries window (or listing), retries included, and its number of pages.
DEFAULT_WINDOW_BUDGET_S = 3600.0  # a reference-size day takes minutes; a retry storm is bounded
DEFAULT_MAX_PAGES = 100_000  # 6.6 M samples a day at the smallest page size (1000) is 6,600 pages
# A site-day is fetched as this many windows at once (each its own cursor stream), so ACE
# builds one window's next page while we decode another's. Capped by max_concurrency.
DEFAULT_PARALLEL_WINDOWS = 3


def site_path(site: str, suffix: str = "") -> str:
    """`/sites/{site}{suffix}`, the site quoted; a non-string or empty site is a ValueError."""
    if not isinstance(site, str) or not site:
        raise ValueError(f"site must be a non-empty string, got {site!r}")
    return f"/sites/{quote(site, safe='')}{suffix}"


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
        window_budget_s: float = DEFAULT_WINDOW_BUDGET_S,
        max_pages_per_window: int = DEFAULT_MAX_PAGES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        parallel_windows: int = DEFAULT_PARALLEL_WINDOWS,
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
        if not window_budget_s > 0 or max_pages_per_window < 1:
            raise ValueError("window_budget_s must be > 0 and max_pages_per_window >= 1")
        if int(parallel_windows) != parallel_windows or parallel_windows < 1:
            raise ValueError(f"parallel_windows must be an integer >= 1, got {parallel_windows!r}")
        self.window_budget_s = float(window_budget_s)
        self.max_pages_per_window = int(max_pages_per_window)
        self.page_size = int(page_size)
        self.min_page_size = int(min_page_size)
        self.list_per_page = int(list_per_page)
        # Never more windows at once than requests the pacer lets through at once.
        self.parallel_windows = min(int(parallel_windows), int(max_concurrency))
        self._transport = Transport(
            api_base, api_key, timeout_s=timeout_s, max_retries=max_retries, backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s, requests_per_minute=requests_per_minute,
            max_concurrency=max_concurrency, http_transport=transport, sleep=sleep,
            max_response_bytes=max_response_bytes,
        )

    @property
    def api_base(self) -> str:
        return self._transport.api_base

    @property
    def max_retries(self) -> int:
        return self._transport.max_retries

    @property
    def pacer(self) -> RequestPacer:
        return self._transport.pacer

    # -- lifecycle ---------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"AceClient(api_base={self.api_base!r}, api_key='***', max_retries={self.max_retries}, "
                f"page_size={self.page_size}, parallel_windows={self.parallel_windows}, pacer={self.pacer!r})")

    def __enter__(self) -> "AceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    # -- listing endpoints -------------------------------------------------------------
    def _deadline(self) -> float:
        return time.monotonic() + self.window_budget_s

    def _list(self, path: str, site: str | None, extra: dict | None = None) -> list[dict]:
        items: list[dict] = []
        page = 1
        deadline = self._deadline()
        while True:
            if page > self.max_pages_per_window:
                raise AceProtocolError(
                    f"ACE listing {where(site, f'GET {path}')} did not end within {self.max_pages_per_window} "
                    f"pages (max_pages_per_window; {len(items)} items so far)", site=site, endpoint=f"GET {path}",
                )
            params = {"page": page, "per_page": self.list_per_page, **(extra or {})}
            _, body = self._transport.get_json(path, params, site=site, deadline=deadline,
                                               budget_s=self.window_budget_s)
            page_items, pages = parse_listing_page(body, site=site, endpoint=f"GET {path}", page=page)
            items.extend(page_items)
            if page >= pages or not page_items:
                return items
            page += 1

    def list_sites(self, collect_enabled: bool = True) -> list[dict]:
        return self._list("/sites/", None, {"collect_enabled": "true" if collect_enabled else "false"})

    def get_site(self, site: str, *, deadline: float | None = None) -> dict:
        path = site_path(site)
        endpoint = f"GET {path}"
        try:
            _, body = self._transport.get_json(path, {}, site=site, budget_s=self.window_budget_s,
                                               deadline=self._deadline() if deadline is None else deadline)
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
        path = site_path(site, suffix)
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
                   ) -> TimeseriesStream:
        """Raw samples of every point of `site` in [start, end), streamed page by page.
        Times go out as UTC seconds: `start` floored, `end` ceiled (see `format_api_time`)."""
        size = self.page_size if page_size is None else int(page_size)
        if size not in PAGE_SIZE_ALLOWED:
            raise ValueError(f"page_size {size} is not one ACE allows: {PAGE_SIZE_ALLOWED}")
        start_s = format_api_time(start)
        end_s = format_api_time(end, ceil=True)
        if start_s >= end_s:
            raise ValueError(f"empty or reversed window: start {start_s} is not before end {end_s}")
        path = site_path(site, "/timeseries/paginated")
        transport = self._transport

        budget_s = self.window_budget_s

        def fetch_page(params, *, on_broken, on_retry, deadline) -> tuple[TimeseriesPage, int]:
            answer, page = transport.get_json(path, params, site=site, parse=parse_timeseries_page,
                                              on_broken=on_broken, on_retry=on_retry, deadline=deadline,
                                              budget_s=budget_s)
            return page, len(answer.content)

        return TimeseriesStream(site, start_s, end_s, size, min_page_size=self.min_page_size,
                                endpoint=f"GET {path}", fetch_page=fetch_page,
                                check_site=lambda deadline: self.get_site(site, deadline=deadline),
                                budget_s=budget_s, max_pages=self.max_pages_per_window)
