"""Raw-zone retention: raw site-day files older than BV_RAW_RETENTION_DAYS are deleted
(the archive is kept forever). Unset means keep everything."""

from __future__ import annotations

from datetime import date, timedelta

from bv_store.faults import crash_point
from bv_store.layout import parse_raw_key
from bv_store.storage import Storage


def prune_raw_zone(storage: Storage, keep_days: int, today: date) -> list[str]:
    """Delete raw files of days before today - keep_days; returns the deleted keys."""
    cutoff = today - timedelta(days=keep_days)
    deleted = []
    for key in storage.list("raw/"):
        parsed = parse_raw_key(key)
        if parsed and parsed.day < cutoff:
            storage.delete(key)
            deleted.append(key)
            crash_point("raw_retention.mid_delete")
    return deleted
