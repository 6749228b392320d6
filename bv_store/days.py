"""UTC days: the time unit of every partition."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone


def day_window(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day as aware datetimes."""
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def day_range(start: date, end: date) -> list[date]:
    """Every day from start to end, both included."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def month_days(month: str) -> list[date]:
    """Every UTC day of a "YYYY-MM" month."""
    first = date.fromisoformat(f"{month}-01")
    days, day = [], first
    while day.month == first.month:
        days.append(day)
        day += timedelta(days=1)
    return days
