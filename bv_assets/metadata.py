"""Typed, ordered, non-empty metadata for the UI, from the plain dicts bv_pipeline returns.

Units are in the key (`file_size_bytes`, `elapsed_seconds`), paths are path values, the
drop counters also come as one table that says what each reason means, and empty values
are left out rather than shown blank.
"""

from __future__ import annotations

import dagster as dg


# Shown first, in this order, when present.
FIRST = ("dagster/row_count", "path", "raw_rows", "points", "dropped_total", "file_size_bytes", "bytes_per_sample")
RENAMED = {"bytes": "file_size_bytes", "elapsed_s": "elapsed_seconds"}
DROP_REASONS = {
    "not_collected": "sample of a point that is not collect-enabled in the catalog (ACE sends every point of "
    "the site; only configured points are archived) — usually most of the total, and expected",
    "outside_day": "time outside the UTC day (raw_site_day asks one minute more on each side)",
    "bad_time": "time that is not ISO 8601",
    "duplicate": "same (point, ts) sent again with the same value",
    "conflicting_duplicate": "same (point, ts) sent again with another value (the last one sent is kept)",
    "null": "value null or missing",
    "nan": "value \"nan\"",
    "non_finite": "value infinite or beyond a double (\"inf\", \"1e999\")",
    "unparseable": "value neither a number nor a true/false word (see unparseable_examples)",
}


def typed(meta: dict) -> dict:
    out: dict = {}
    plain = {RENAMED.get(k, k): v for k, v in meta.items() if v not in ("", None)}
    for key in [k for k in FIRST if k in plain] + [k for k in plain if k not in FIRST]:
        value = plain[key]
        if key == "path" or key.endswith("_path"):
            out[key] = dg.MetadataValue.path(str(value))
        else:
            out[key] = value
    drops = {k.removeprefix("dropped_"): v for k, v in plain.items() if k.startswith("dropped_") and k != "dropped_total"}
    if drops:
        rows = "\n".join(f"| {reason} | {count:,} | {DROP_REASONS.get(reason, '')} |"
                         for reason, count in sorted(drops.items(), key=lambda kv: -kv[1]))
        out["dropped_by_reason"] = dg.MetadataValue.md("| reason | samples | meaning |\n|---|---:|---|\n" + rows)
    return out
