"""Raw-zone retention: raw site-day files older than BV_RAW_RETENTION_DAYS are deleted
(the archive is kept forever). Unset means keep everything."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta

from bv_resources.storage import Storage

_RAW_DAY = re.compile(r"^raw/site=[^/]+/date=(\d{4}-\d{2}-\d{2})/")


def raw_retention_days() -> int | None:
    raw = os.environ.get("BV_RAW_RETENTION_DAYS", "").strip()
    if not raw:
        return None
    days = int(raw)
    if days < 1:
        raise ValueError(f"BV_RAW_RETENTION_DAYS={raw!r} must be a positive number of days")
    return days


def prune_raw_zone(storage: Storage, keep_days: int, today: date) -> list[str]:
    """Delete raw files of days before today - keep_days; returns the deleted keys."""
    cutoff = today - timedelta(days=keep_days)
    deleted = []
    for key in storage.list("raw/"):
        match = _RAW_DAY.match(key)
        if match and date.fromisoformat(match.group(1)) < cutoff:
            storage.delete(key)
            deleted.append(key)
    return deleted
