"""Dagster resource for the ACE FlightDeck API: configuration in, a plain `AceClient` out.

The Definitions pass `api_key=EnvVar("ACE_API_KEY")` so the key is read at run time and
never shown in the UI; nothing here reads the environment itself.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from bv_ace.client import AceClient


class AceResource(dg.ConfigurableResource):
    """ACE IoT FlightDeck API access: auth, paging, retries, request pacing."""

    api_base: str = Field(description="FlightDeck API base URL, e.g. https://flightdeck.aceiot.cloud/api")
    api_key: str = Field(repr=False, description="FlightDeck API token (secret): pass EnvVar('ACE_API_KEY')")
    timeout_s: float = Field(default=60, description="Per-request timeout in seconds")
    max_retries: int = Field(default=5, description="Retries per request for 429/5xx/timeouts/broken bodies")
    requests_per_minute: float = Field(default=600, description="Request rate limit of one client")
    max_concurrency: int = Field(default=4, description="Concurrent requests of one client")
    page_size: int = Field(default=50_000, description="Timeseries page size (an ACE-allowed value)")

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
        )
