"""Per-request fault decisions: what a request suffers under the current `FaultConfig`.

Plain functions over a `FaultConfig` (and its `FaultCounters`); the HTTP handler and the
/api routes call them and turn the answers into responses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bv_sim.faults import FaultConfig, FaultCounters

_SERVER_ERRORS = ((500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable"))


@dataclass(frozen=True)
class Refusal:
    """An /api request answered with an error instead of its route: `{"msg": msg}` as JSON,
    or with `html` an nginx-style HTML error page."""

    status: int
    msg: str
    html: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def refuse_api_request(faults: FaultConfig, counters: FaultCounters) -> Refusal | None:
    """The faults an authenticated /api request meets, in order: expired token, then (counted)
    the slow_s delay, rate limit (429) and server errors (500/502/503, JSON and HTML in turn).
    None: serve the route."""
    if faults.reject_token:
        return Refusal(401, "Token has expired")
    n = counters.next_api()
    if faults.slow_s:
        time.sleep(faults.slow_s)
    if faults.rate_limit_every and n % faults.rate_limit_every == 0:
        headers = {}
        if faults.retry_after_s is not None:
            ra = float(faults.retry_after_s)
            headers["Retry-After"] = str(int(ra)) if ra.is_integer() else str(ra)
        return Refusal(429, "Too Many Requests", headers=headers)
    if faults.server_error_every and n % faults.server_error_every == 0:
        k = counters.next_error()
        code, reason = _SERVER_ERRORS[(k - 1) % 3]
        return Refusal(code, reason, html=not k % 2)
    return None


def no_data_status(faults: FaultConfig) -> int | None:
    """404: timeseries requests answer "No data for time period"; 200: they answer no samples;
    None: they serve the data."""
    return None if faults.empty_window is None else int(faults.empty_window)


def truncates(faults: FaultConfig, page_size: int) -> bool:
    """Whether a paginated timeseries answer of this page_size breaks off mid-body."""
    return bool(faults.truncate_above_page_size) and page_size > faults.truncate_above_page_size


def empty_page_due(faults: FaultConfig, counters: FaultCounters) -> bool:
    """Count one timeseries page; True if this one is to come back empty (with a cursor)."""
    page_no = counters.next_page()
    return bool(faults.empty_page_every) and page_no % faults.empty_page_every == 0


def resent_samples(faults: FaultConfig, page_size: int) -> int:
    """How many samples of the previous page a follow-up page re-sends (0: none)."""
    return min(faults.resend_overlap, page_size - 1) if faults.resend_overlap else 0
