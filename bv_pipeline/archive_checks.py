"""The archive's checks as plain decisions: facts from `verify` in, one outcome per check out.

The Dagster multi-check on archived_site_day, the `verify_job` and `bv verify` all call
`check_site_day`, so a stored partition is judged the same way wherever it is checked.
Every outcome's description starts with the site-day and names the first bad points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import pyarrow.parquet as pq

from bv_pipeline.verify import (
    EXPECTED_COLUMNS,
    archive_facts_and_content,
    content_mismatches,
    raw_rows_in_day,
    reconciled_content,
)
from bv_store.catalog import CatalogError, read_catalog_table, read_catalog_version, read_catalog_version_names
from bv_store.layout import archive_key, raw_key
from bv_store.point_index import POINT_INDEX_META, index_problem
from bv_store.schemas import ARCHIVE_CATALOG_META, ARCHIVE_PARTIAL_META
from bv_store.storage import Storage

NOT_EMPTY = "archive_not_empty"
MATCHES_RAW = "archive_content_matches_raw"
NO_NULL_NO_DUP = "no_nulls_no_duplicates"
INSIDE_DAY = "timestamps_inside_day"
SCHEMA = "archive_schema_and_order"
IN_CATALOG = "points_in_catalog"
POINTS_SEEN = "points_seen_floor"
COVERAGE = "coverage"

BLOCKING = {
    NOT_EMPTY: "The partition holds rows, unless ACE reported no data for the day.",
    MATCHES_RAW: "Per point, rows, value sum, min/max, first/last ts and a digest of (ts, value) equal "
    "those re-derived from the raw file in SQL (an independent implementation of the value rule).",
    NO_NULL_NO_DUP: "No null or NaN cell and no duplicate (point, ts).",
    INSIDE_DAY: "Every ts lies inside the partition's UTC day.",
    SCHEMA: "Columns point VARCHAR, ts TIMESTAMPTZ, value DOUBLE; rows sorted by point then ts; the "
    "footer's point index (where each point's rows are, used by the query layer) matches the rows.",
    IN_CATALOG: "Every archived point is in the catalog version the archive records it was built from.",
    POINTS_SEEN: "At least BV_MIN_POINTS_SEEN of the collect-enabled points sent a sample (run tag "
    "bv/accept_partial=true accepts a known partial day, and says so).",
}
WARN_ONLY = {COVERAGE: "Samples vs expected (points x day / collect interval); WARN below BV_COVERAGE_WARN_RATIO."}
ALL_CHECKS = {**BLOCKING, **WARN_ONLY}
EXAMPLES = 10


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)
    blocking: bool = True


@dataclass
class Thresholds:
    min_points_seen: float = 0.5
    coverage_warn_ratio: float = 0.8
    accept_partial: bool = False
    # Days before this date may have lost their raw file to BV_RAW_RETENTION_DAYS.
    raw_pruned_before: date | None = None


def check_site_day(
    storage: Storage, con: duckdb.DuckDBPyConnection, site: str, day: date, limits: Thresholds
) -> list[CheckOutcome]:
    """Every check of one stored site-day, reading only storage (never ACE)."""
    label = f"{day.isoformat()}|{site}"
    akey, rkey = archive_key(site, day), raw_key(site, day)
    if not storage.exists(akey):
        raw_rows = raw_rows_in_day(con, storage.uri(rkey), day) if storage.exists(rkey) else None
        return _no_archive(label, raw_rows, storage.uri(akey))
    try:
        with storage.local_copy(akey) as path:
            footer = pq.read_metadata(path)
        file_meta = footer.metadata or {}
        version = file_meta.get(ARCHIVE_CATALOG_META.encode(), b"").decode()
        # The archive is judged by the catalog it was built from (a later refresh may add or
        # remove points); without a recorded version, by today's (and points_in_catalog fails).
        catalog = _catalog_for(storage, site, version)
        names = catalog.column("name").to_pylist()
        facts, actual = archive_facts_and_content(con, storage.uri(akey), names, day)
    except Exception as exc:  # a truncated or foreign file: every blocking check fails, loudly
        reason = f"{label}: the archive file {storage.uri(akey)} cannot be read ({type(exc).__name__}: {str(exc)[:200]})"
        return [CheckOutcome(n, False, reason, {"reason": reason}) for n in BLOCKING] + [
            CheckOutcome(COVERAGE, False, reason, {"reason": reason}, blocking=False)]
    if not storage.exists(rkey):
        expected = None
    else:
        expected = reconciled_content(con, storage.uri(rkey), sorted(names), day, actual, facts.duplicate_keys)
    pruned = expected is None and limits.raw_pruned_before is not None and day < limits.raw_pruned_before
    accepted = limits.accept_partial or file_meta.get(ARCHIVE_PARTIAL_META.encode(), b"") == b"true"
    return [
        _not_empty(label, facts),
        _matches_raw(label, expected, actual, storage.uri(rkey), pruned),
        _no_null_no_dup(label, facts),
        _inside_day(label, facts),
        _schema(label, facts, footer),
        _in_catalog(label, storage, site, version, actual),
        _points_seen(label, catalog, facts.per_point_rows, limits.min_points_seen, accepted),
        _coverage(label, catalog, facts.per_point_rows, limits.coverage_warn_ratio),
    ]


def _catalog_for(storage: Storage, site: str, version: str):
    if version:
        try:
            return read_catalog_version(storage, site, version)
        except CatalogError:
            pass  # reported by points_in_catalog
    return read_catalog_table(storage, site)


def _no_archive(label: str, raw_rows: int | None, archive_uri: str) -> list[CheckOutcome]:
    no_data = raw_rows == 0
    if no_data:
        reason = f"{label}: ACE reported no data for this day: no archive file, by design"
    elif raw_rows is None:
        reason = f"{label}: nothing stored for this day (no raw file, no archive at {archive_uri}); materialize it first"
    else:
        reason = f"{label}: no archive file at {archive_uri} although the raw file holds {raw_rows:,} samples of the day"
    out = [CheckOutcome(n, no_data, reason, {"reason": reason}) for n in BLOCKING]
    return out + [CheckOutcome(COVERAGE, False, reason, {"reason": reason, "coverage": 0.0}, blocking=False)]


def _not_empty(label, facts) -> CheckOutcome:
    return CheckOutcome(NOT_EMPTY, facts.rows > 0, f"{label}: {facts.rows:,} rows", {"rows": facts.rows})


def _matches_raw(label, expected, actual, raw_uri, pruned: bool) -> CheckOutcome:
    if expected is None and pruned:
        # Reconciled when it was built; its raw file is gone by the retention policy.
        text = f"{label}: raw file pruned by BV_RAW_RETENTION_DAYS; content not re-derivable (checked at build)"
        return CheckOutcome(MATCHES_RAW, True, text, {"reason": text, "raw_pruned": True})
    if expected is None:
        text = f"{label}: no raw file at {raw_uri} to reconcile with"
        return CheckOutcome(MATCHES_RAW, False, text, {"reason": text})
    bad = content_mismatches(expected, actual)
    rows = sum(c.rows for c in actual.values())
    want = sum(c.rows for c in expected.values())
    text = (f"{label}: content matches raw for {len(actual)} points, {rows:,} rows" if not bad
            else f"{label}: {len(bad)} points differ from raw, first {bad[0]}")
    meta = {"archive_rows": rows, "expected_from_raw": want, "points_differing": len(bad)}
    if bad:
        meta["differing_points"] = "\n".join(bad[:EXAMPLES])
    return CheckOutcome(MATCHES_RAW, not bad, text, meta)


def _no_null_no_dup(label, facts) -> CheckOutcome:
    ok = facts.null_cells == 0 and facts.duplicate_keys == 0
    text = f"{label}: {facts.null_cells} null/NaN rows, {facts.duplicate_keys} duplicate (point, ts)"
    return CheckOutcome(NO_NULL_NO_DUP, ok, text,
                        {"null_or_nan_rows": facts.null_cells, "duplicate_keys": facts.duplicate_keys})


def _inside_day(label, facts) -> CheckOutcome:
    return CheckOutcome(INSIDE_DAY, facts.outside_day == 0, f"{label}: {facts.outside_day} rows outside the day",
                        {"rows_outside_day": facts.outside_day})


def _schema(label, facts, footer) -> CheckOutcome:
    ok = facts.columns == EXPECTED_COLUMNS and facts.sorted_ok
    text = (f"{label}: columns and order as contracted" if ok
            else f"{label}: columns {facts.columns} (want {EXPECTED_COLUMNS}), sorted by point then ts: {facts.sorted_ok}")
    indexed = POINT_INDEX_META.encode() in (footer.metadata or {})
    # Runs found from the rows only mean something in a sorted file: judge the index there.
    problem = index_problem(footer, facts.point_runs) if facts.sorted_ok else None
    meta = {"columns": str(facts.columns), "sorted_by_point_then_ts": facts.sorted_ok,
            "point_index": problem or ("matches the rows" if indexed and facts.sorted_ok
                                       else "not judged (rows unsorted)" if indexed
                                       else "absent (readers decode the point column)")}
    if problem:
        ok, text = False, (f"{text}; " if not ok else f"{label}: ") + problem
    return CheckOutcome(SCHEMA, ok, text, meta)


def _in_catalog(label, storage, site, version, actual) -> CheckOutcome:
    if not version:
        text = f"{label}: the archive records no catalog version ({ARCHIVE_CATALOG_META}); rebuild it"
        return CheckOutcome(IN_CATALOG, False, text, {"reason": text})
    try:
        allowed = set(read_catalog_version_names(storage, site, version))
    except CatalogError as exc:
        return CheckOutcome(IN_CATALOG, False, f"{label}: {exc}", {"catalog_version": version})
    unknown = sorted(p for p in actual if p not in allowed)
    text = (f"{label}: all {len(actual)} points are in catalog {version}" if not unknown
            else f"{label}: {len(unknown)} points not in catalog {version}, first {unknown[0]}")
    meta = {"catalog_version": version, "unknown_points": len(unknown)}
    if unknown:
        meta["unknown_examples"] = "\n".join(unknown[:EXAMPLES])
    return CheckOutcome(IN_CATALOG, not unknown, text, meta)


def _points_seen(label, catalog, per_point_rows, floor: float, accepted: bool) -> CheckOutcome:
    # Change-of-value points (no collect interval) may rightly stay silent all day: only
    # points sampled on an interval count towards the floor.
    intervals = dict(zip(catalog.column("name").to_pylist(), catalog.column("collect_interval").to_pylist()))
    polled = [n for n, i in intervals.items() if i and i > 0]
    seen = sum(1 for n in polled if per_point_rows.get(n, 0) > 0)
    share = seen / len(polled) if polled else 1.0
    ok = share >= floor
    text = (f"{label}: {seen} of {len(polled)} interval-sampled points sent samples ({share:.1%}, floor {floor:.0%})"
            + (f"; {len(intervals) - len(polled)} change-of-value points not counted" if len(polled) < len(intervals) else ""))
    meta = {"points_seen": seen, "points_counted": len(polled), "share": round(share, 4), "floor": floor}
    if not ok and accepted:
        text += "; accepted as a known partial day (run tag bv/accept_partial, recorded in the archive)"
        meta["accepted_partial"] = True
        ok = True
    return CheckOutcome(POINTS_SEEN, ok, text, meta)


def _coverage(label, catalog, per_point_rows: dict[str, int], warn_ratio: float) -> CheckOutcome:
    intervals = dict(zip(catalog.column("name").to_pylist(), catalog.column("collect_interval").to_pylist()))
    expected = sum(86_400 // i for i in intervals.values() if i and i > 0)
    actual = sum(per_point_rows.get(n, 0) for n, i in intervals.items() if i and i > 0)
    silent = sorted(n for n in intervals if per_point_rows.get(n, 0) == 0)
    ratio = actual / expected if expected else 1.0
    text = f"{label}: {actual:,} of {expected:,} expected samples, {ratio:.1%}; {len(silent)} points silent"
    meta = {"coverage": round(ratio, 4), "expected_samples": expected, "samples": actual, "warn_below": warn_ratio,
            "points_without_samples": len(silent)}
    if silent:
        meta["silent_points"] = "\n".join(silent[:50])
    return CheckOutcome(COVERAGE, ratio >= warn_ratio, text, meta, blocking=False)
