"""Query parameters: times, resolutions, aggregates and fills, parsed strictly.

Range convention: `[start, end)` — start inclusive, end exclusive — for the whole query and
for every bucket. Buckets align to the requested time zone: a `1d` bucket in
America/Chicago starts at local midnight (23 or 25 hours long on DST days).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bv_query.errors import QueryError

# Canonical spelling -> bucket width in seconds (None = raw samples).
INTERVALS: dict[str, int | None] = {
    "raw": None,
    "1min": 60,
    "5min": 300,
    "15min": 900,
    "1h": 3600,
    "1d": 86400,
}
# The original Query Worker's spellings, and a few obvious ones.
INTERVAL_ALIASES = {"1m": "1min", "5m": "5min", "15m": "15min", "1hr": "1h", "60min": "1h", "1day": "1d", "day": "1d"}
AGGREGATES = ("avg", "min", "max", "first", "last", "count", "sum")
AGGREGATE_ALIASES = {"mean": "avg", "average": "avg"}
FILLS = ("null", "locf", "linear")
FORMATS = ("json", "csv", "parquet", "arrow")

DEFAULT_AUTO_BUDGET = 1000
NOMINAL_SAMPLE_S = 60  # sensors report about once a minute; `auto` picks raw below this density
EPOCH_MS_THRESHOLD = 100_000_000_000  # numbers above this are epoch ms (year 5138 in seconds)
MIN_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_TIME = datetime(2200, 1, 1, tzinfo=timezone.utc)
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_CONTROL = re.compile(r"[\x00-\x1f]")


def parse_time(value, parameter: str) -> datetime:
    """ISO 8601 (with a zone, or naive = UTC), epoch seconds or epoch milliseconds -> UTC."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        text = str(value).strip() if value is not None else ""
        if not text:
            raise QueryError(parameter, f"{parameter} is required (ISO 8601, epoch seconds or epoch ms)")
        try:
            if _NUMBER.match(text):
                number = float(text)
                seconds = number / 1000 if abs(number) >= EPOCH_MS_THRESHOLD else number
                if not math.isfinite(seconds):
                    raise ValueError
                moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise QueryError(
                parameter, f"{parameter}={text[:60]!r} is not a time: use ISO 8601, epoch seconds or epoch ms"
            ) from None
    moment = moment.astimezone(timezone.utc)
    if not MIN_TIME <= moment < MAX_TIME:
        raise QueryError(parameter, f"{parameter}={moment.isoformat()} is outside 1970..2200")
    return moment


def parse_interval(value: str | None) -> str:
    text = (value or "raw").strip().lower()
    text = INTERVAL_ALIASES.get(text, text)
    if text != "auto" and text not in INTERVALS:
        raise QueryError("interval", f"unknown interval {value!r}: use auto, " + ", ".join(INTERVALS))
    return text


def parse_choice(value: str | None, parameter: str, choices: tuple[str, ...], default: str, aliases=None) -> str:
    text = (value or default).strip().lower()
    text = (aliases or {}).get(text, text)
    if text not in choices:
        raise QueryError(parameter, f"unknown {parameter} {value!r}: use one of " + ", ".join(choices))
    return text


def parse_tz(value: str | None) -> ZoneInfo:
    name = (value or "UTC").strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise QueryError("tz", f"unknown time zone {value!r}: use an IANA name such as America/Chicago") from None


def parse_max_points(value) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise QueryError("max_points", f"max_points={value!r} is not an integer") from None
    if not 2 <= number <= 1_000_000:
        raise QueryError("max_points", f"max_points={number} must be between 2 and 1000000")
    return number


def resolve_auto(start: datetime, end: datetime, max_points: int | None) -> str:
    """The finest resolution whose bucket count over [start, end) fits the budget."""
    budget = max_points or DEFAULT_AUTO_BUDGET
    span = (end - start).total_seconds()
    if span / NOMINAL_SAMPLE_S <= budget:
        return "raw"
    for name, width in INTERVALS.items():
        if width and span / width <= budget:
            return name
    return "1d"


@dataclass(frozen=True)
class QueryRequest:
    """One validated query. Build it with `QueryRequest.parse(...)` from loose inputs."""

    site: str
    points: tuple[str, ...]
    start: datetime
    end: datetime
    interval: str  # canonical, never "auto" (resolved at parse time)
    agg: str
    tz: ZoneInfo
    fill: str
    max_points: int | None
    requested_interval: str

    @property
    def width(self) -> timedelta | None:
        seconds = INTERVALS[self.interval]
        return timedelta(seconds=seconds) if seconds else None

    @classmethod
    def parse(
        cls,
        site: str,
        points,
        start,
        end,
        *,
        interval: str | None = "raw",
        agg: str | None = "avg",
        tz: str | None = "UTC",
        fill: str | None = "null",
        max_points=None,
        max_point_count: int = 100,
        max_range_days: int = 365,
    ) -> "QueryRequest":
        if not site or not str(site).strip():
            raise QueryError("site_name", "site_name is required")
        names = _point_list(points)
        if len(names) > max_point_count:
            raise QueryError("point_names", f"{len(names)} points asked, at most {max_point_count} per query")
        start_t, end_t = parse_time(start, "start_time"), parse_time(end, "end_time")
        if start_t >= end_t:
            raise QueryError("end_time", f"end_time ({end_t.isoformat()}) must be after start_time ({start_t.isoformat()})")
        if end_t - start_t > timedelta(days=max_range_days):
            raise QueryError("end_time", f"range of {(end_t - start_t).days} days is over the maximum of {max_range_days}")
        budget = parse_max_points(max_points)
        requested = parse_interval(interval)
        resolved = resolve_auto(start_t, end_t, budget) if requested == "auto" else requested
        return cls(
            site=str(site).strip(),
            points=names,
            start=start_t,
            end=end_t,
            interval=resolved,
            agg=parse_choice(agg, "agg", AGGREGATES, "avg", AGGREGATE_ALIASES),
            tz=parse_tz(tz),
            fill=parse_choice(fill, "fill", FILLS, "null"),
            max_points=budget,
            requested_interval=requested,
        )


def _point_list(points) -> tuple[str, ...]:
    if isinstance(points, str):
        points = points.split(",")
    names: list[str] = []
    for name in points or ():
        name = str(name).strip()
        if len(name) > 1000 or _CONTROL.search(name):
            raise QueryError("point_names", f"point name {name[:40]!r}… is too long or holds control characters")
        if name and name not in names:
            names.append(name)
    if not names:
        raise QueryError("point_names", "point_names is required (comma-separated, or repeat `point=`)")
    return tuple(names)
