"""Dagster resource for the ACE FlightDeck API: configuration in, a plain `AceClient` out.

The Definitions pass `api_key=EnvVar("ACE_API_KEY")` so the key is read at run time and
never shown in the UI; nothing here reads the environment itself.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from bv_ace.client import (
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PARALLEL_WINDOWS,
    DEFAULT_WINDOW_BUDGET_S,
    AceClient,
)


class AceResource(dg.ConfigurableResource):
    """ACE IoT FlightDeck API access: auth, paging, retries, request pacing."""

    api_base: str = Field(description="FlightDeck API base URL, e.g. https://flightdeck.aceiot.cloud/api")
    api_key: str = Field(repr=False, description="FlightDeck API token (secret): pass EnvVar('ACE_API_KEY')")
    timeout_s: float = Field(default=60, description="Per-request timeout in seconds")
    max_retries: int = Field(default=5, description="Retries per request for 429/5xx/timeouts/broken bodies")
    requests_per_minute: float = Field(default=600, description="Request rate limit of one client")
    max_concurrency: int = Field(default=4, description="Concurrent requests of one client")
    page_size: int = Field(default=50_000, description="Timeseries page size (an ACE-allowed value)")
    # Hostile-answer bounds: a window that exceeds any of them fails loudly instead of hanging.
    window_budget_s: float = Field(default=DEFAULT_WINDOW_BUDGET_S, description="Seconds one site window may take, retries included")
    max_pages_per_window: int = Field(default=DEFAULT_MAX_PAGES, description="Pages one site window may take")
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, description="Largest decoded response body accepted")
    parallel_windows: int = Field(
        default=DEFAULT_PARALLEL_WINDOWS,
        description="Windows of a site-day fetched at once, each its own cursor stream (1: one stream); "
        "at most max_concurrency",
    )

    def get_client(self) -> AceClient:
        """A new client; use it as a context manager so its connections are closed."""
        return AceClient(
            self.api_base,
            self.api_key,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            requests_per_minute=self.requests_per_minute,
            max_concurrency=self.max_concurrency,
            page_size=self.page_size,
            window_budget_s=self.window_budget_s,
            max_pages_per_window=self.max_pages_per_window,
            max_response_bytes=self.max_response_bytes,
            parallel_windows=self.parallel_windows,
        )
