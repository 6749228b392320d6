"""Query-parameter rules shared by the /api routes: times, flags, page-numbered listings."""

from __future__ import annotations

import math
from datetime import datetime

from bv_sim.clock import as_utc
from bv_sim.httpd import ApiError, Response, json_response
from bv_sim.timeseries import to_us

PER_PAGE_ALLOWED = (2, 10, 20, 30, 40, 50, 100, 500, 1000, 5000, 10000, 100000)
DEFAULT_PER_PAGE = 10


def parse_time(value: str | None, name: str) -> int:
    """An ISO 8601 time (naive = UTC, `Z`, offsets; a `+` decoded to a space is restored) -> µs."""
    if not value:
        raise ApiError(400, f"{name} is required")
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"{name} is not an ISO 8601 time: {value!r}") from None
    return to_us(as_utc(dt))


def optional_time(q: dict, name: str) -> int | None:
    return parse_time(q[name], name) if q.get(name) else None


def flag(value: str | None) -> bool:
    """A boolean query argument: `true`, `True` (what `requests` sends), `1`, `yes`, `on`."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def flag_or(q: dict, name: str, default: bool) -> bool:
    return flag(q[name]) if name in q else default


def paged(items: list, q: dict) -> Response:
    """The page-numbered envelope {page, pages, per_page, total, items} of `items`."""
    try:
        page = int(q.get("page", 1))
        per_page = int(q.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        raise ApiError(400, "page and per_page must be integers") from None
    if page < 1:
        raise ApiError(400, "page must be >= 1")
    if per_page not in PER_PAGE_ALLOWED:
        raise ApiError(400, f"per_page must be one of {list(PER_PAGE_ALLOWED)}")
    total = len(items)
    return json_response(200, {"page": page, "pages": math.ceil(total / per_page), "per_page": per_page,
                               "total": total, "items": items[(page - 1) * per_page: page * per_page]})
