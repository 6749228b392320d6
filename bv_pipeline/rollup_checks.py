"""The hourly rollup reconciled with the archive files it names, per point and hour.

count, min, max, first and last must be equal; sum within 1e-9 relative (summation order).
Only days whose archive file is still the one the rollup was built from (same size) are
compared; days rebuilt since are reported as stale (the query layer already skips them).
"""

from __future__ import annotations

from datetime import date

import duckdb
import orjson

from bv_pipeline.archive_checks import CheckOutcome
from bv_store.layout import archive_key, archive_site_prefix, parse_archive_key, rollup_key
from bv_store.schemas import ROLLUP_DAYS_META
from bv_store.storage import Storage

ROLLUP_MATCHES = "rollup_matches_archive"
DESCRIPTION = ("Per point and hour, count/min/max/first/last equal and sum within 1e-9 of those "
               "recomputed from the archive files the rollup names.")
EXAMPLES = 10


def check_rollup(storage: Storage, con: duckdb.DuckDBPyConnection, site: str, month: str) -> CheckOutcome:
    label = f"{month}|{site}"
    key = rollup_key(site, month)
    if not storage.exists(key):
        has_days = any((p := parse_archive_key(k)) and p.day.strftime("%Y-%m") == month
                       for k in storage.list(archive_site_prefix(site)))
        # Not wrong, only not built yet (the automation builds it): queries read the archive.
        text = (f"{label}: no rollup file yet; queries read the archived days" if has_days
                else f"{label}: no archived day this month, no rollup file")
        return CheckOutcome(ROLLUP_MATCHES, True, text, {"reason": text})
    uri = storage.uri(key)
    rows = con.execute("SELECT value FROM parquet_kv_metadata(?) WHERE key = ?", [uri, ROLLUP_DAYS_META]).fetchall()
    if not rows:
        text = f"{label}: the rollup file names no source days ({ROLLUP_DAYS_META})"
        return CheckOutcome(ROLLUP_MATCHES, False, text, {"reason": text})
    sources = orjson.loads(rows[0][0])
    current = {d: storage.size(archive_key(site, date.fromisoformat(d))) for d in sources}
    same = sorted(d for d, size in sources.items() if current[d] == size)
    stale = sorted(d for d in sources if d not in same)
    files = [storage.uri(archive_key(site, date.fromisoformat(d))) for d in same]
    if not files:
        text = f"{label}: every source day was rebuilt since the rollup ({', '.join(stale)}); it will be rebuilt"
        return CheckOutcome(ROLLUP_MATCHES, True, text, {"stale_days": ", ".join(stale)})
    bad, checked = _differences(con, uri, files, stale)
    stale_note = f"; rebuilt since, left to the next rollup: {', '.join(stale)}" if stale else ""
    text = (f"{label}: {checked:,} point-hours of {len(same)} days match the archive{stale_note}" if not bad
            else f"{label}: {len(bad)} point-hours differ from the archive, first {bad[0]}")
    meta = {"point_hours_checked": checked, "days_checked": len(same), "point_hours_differing": len(bad),
            "stale_days": ", ".join(stale)}
    if bad:
        meta["differing"] = "\n".join(bad[:EXAMPLES])
    return CheckOutcome(ROLLUP_MATCHES, not bad, text, meta)


def _differences(con, rollup_uri: str, files: list[str], stale: list[str]) -> tuple[list[str], int]:
    """Point-hours that differ; rows of a day the rollup does not name count as differences
    (rows of days rebuilt since the rollup are left to its next build)."""
    rows = con.execute(
        """WITH want AS (
               SELECT point::VARCHAR AS point, time_bucket(INTERVAL '1 hour', ts) AS hour, count(*) AS n,
                      sum(value) AS s, min(value) AS lo, max(value) AS hi,
                      arg_min(value, ts) AS first, arg_max(value, ts) AS last
               FROM read_parquet($files, hive_partitioning=false) GROUP BY ALL),
           got AS (
               SELECT point, hour, "count" AS n, "sum" AS s, "min" AS lo, "max" AS hi, "first", "last"
               FROM read_parquet($rollup, hive_partitioning=false)
               WHERE strftime(hour, '%Y-%m-%d') NOT IN (SELECT unnest($stale)))
           SELECT coalesce(w.point, g.point) AS point, coalesce(w.hour, g.hour) AS hour,
                  w.n, g.n, w.s, g.s, w.lo, g.lo, w.hi, g.hi, w.first, g.first, w.last, g.last
           FROM want w FULL OUTER JOIN got g ON w.point = g.point AND w.hour = g.hour""",
        {"files": files, "rollup": rollup_uri, "stale": stale or [""]},
    ).fetchall()
    bad = []
    for point, hour, *pairs in rows:
        names = ("count", "sum", "min", "max", "first", "last")
        diffs = []
        for name, want, got in zip(names, pairs[0::2], pairs[1::2]):
            if name == "sum" and want is not None and got is not None:
                # Summation order differs between the two scans: bound by the magnitudes summed.
                n, lo, hi = pairs[0], pairs[4], pairs[6]
                if abs(want - got) <= 1e-9 * max(1.0, (n or 0) * max(abs(lo or 0), abs(hi or 0))):
                    continue
            if want != got:
                diffs.append(f"{name} {got} vs {want} in the archive")
        if diffs:
            bad.append(f"{point} {hour:%Y-%m-%dT%H:%MZ}: " + ", ".join(diffs))
    return sorted(bad), len(rows)
