"""Asset checks on archived_site_day: the archive file is read back through DuckDB.

One multi-check reads the file once and reports each property as its own check, so the
UI shows exactly which one failed. All but coverage are blocking: a failed partition does
not feed anything downstream. The facts come from bv_pipeline.verify; this decides.
"""


import dagster as dg

from bv_assets.partitions import site_day_of
from bv_config.settings import Settings
from bv_pipeline.verify import EXPECTED_COLUMNS, archive_facts, expected_archive_rows, raw_rows_in_day
from bv_resources.duckdb import StorageDuckDBResource
from bv_resources.storage import StorageResource
from bv_store.catalog import read_catalog_table
from bv_store.layout import archive_key, raw_key

NOT_EMPTY = "archive_not_empty"
MATCHES_RAW = "archive_rows_match_raw"
NO_NULL_NO_DUP = "no_nulls_no_duplicates"
INSIDE_DAY = "timestamps_inside_day"
SCHEMA = "archive_schema_and_order"
IN_CATALOG = "points_in_catalog"
COVERAGE = "coverage"

BLOCKING = {
    NOT_EMPTY: "The partition holds rows, unless ACE reported no data for the day.",
    MATCHES_RAW: "Archive rows = distinct valid raw samples of collect-enabled points (recomputed in SQL).",
    NO_NULL_NO_DUP: "No null or NaN cell and no duplicate (point, ts).",
    INSIDE_DAY: "Every ts lies inside the partition's UTC day.",
    SCHEMA: "Columns point VARCHAR, ts TIMESTAMPTZ, value DOUBLE; rows sorted by point then ts.",
    IN_CATALOG: "Every archived point is in the site's collect-enabled catalog.",
}


def build_archive_checks(settings: Settings, archived_site_day: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        specs=[
            *[dg.AssetCheckSpec(name, asset=archived_site_day, blocking=True, description=d) for name, d in BLOCKING.items()],
            dg.AssetCheckSpec(
                COVERAGE,
                asset=archived_site_day,
                description="Samples vs expected (points x day / collect interval); WARN below BV_COVERAGE_WARN_RATIO.",
            ),
        ],
    )
    def archived_site_day_checks(
        context: dg.AssetCheckExecutionContext, storage: StorageResource, duckdb: StorageDuckDBResource
    ):
        site, day = site_day_of(context.partition_key)
        store = storage.get_storage()
        akey, rkey = archive_key(site, day), raw_key(site, day)
        catalog = read_catalog_table(store, site)
        names = catalog.column("name").to_pylist()

        if not store.exists(akey):
            raw_rows = None
            if store.exists(rkey):
                with duckdb.connect(store) as con:
                    raw_rows = raw_rows_in_day(con, store.uri(rkey), day)
            yield from _no_archive_results(raw_rows, store.uri(akey))
            return

        with duckdb.connect(store) as con:
            facts = archive_facts(con, store.uri(akey), names, day)
            expected = expected_archive_rows(con, store.uri(rkey), names, day)
        yield from _archive_results(facts, expected)
        yield coverage_result(catalog, facts.per_point_rows, settings.coverage_warn_ratio)

    return archived_site_day_checks


def _no_archive_results(raw_rows: int | None, archive_uri: str):
    no_data = raw_rows == 0
    reason = (
        "ACE reported no data for this day: no archive file, by design"
        if no_data
        else f"no archive file at {archive_uri} (raw samples inside the day: {raw_rows})"
    )
    for name in BLOCKING:
        yield dg.AssetCheckResult(check_name=name, passed=no_data, metadata={"reason": reason})
    yield dg.AssetCheckResult(
        check_name=COVERAGE,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"reason": reason, "coverage": 0.0},
    )


def _archive_results(facts, expected: int):
    yield dg.AssetCheckResult(check_name=NOT_EMPTY, passed=facts.rows > 0, metadata={"rows": facts.rows})
    yield dg.AssetCheckResult(
        check_name=MATCHES_RAW,
        passed=facts.rows == expected,
        metadata={"archive_rows": facts.rows, "expected_from_raw": expected},
    )
    yield dg.AssetCheckResult(
        check_name=NO_NULL_NO_DUP,
        passed=facts.null_cells == 0 and facts.duplicate_keys == 0,
        metadata={"null_or_nan_rows": facts.null_cells, "duplicate_keys": facts.duplicate_keys},
    )
    yield dg.AssetCheckResult(
        check_name=INSIDE_DAY, passed=facts.outside_day == 0, metadata={"rows_outside_day": facts.outside_day}
    )
    yield dg.AssetCheckResult(
        check_name=SCHEMA,
        passed=facts.columns == EXPECTED_COLUMNS and facts.sorted_ok,
        metadata={"columns": str(facts.columns), "sorted_by_point_then_ts": facts.sorted_ok},
    )
    yield dg.AssetCheckResult(
        check_name=IN_CATALOG,
        passed=facts.unknown_points == 0,
        metadata={"unknown_points": facts.unknown_points, "examples": ", ".join(facts.unknown_examples)},
    )


def coverage_result(catalog, per_point_rows: dict[str, int], warn_ratio: float) -> dg.AssetCheckResult:
    intervals = dict(zip(catalog.column("name").to_pylist(), catalog.column("collect_interval").to_pylist()))
    expected = sum(86_400 // i for i in intervals.values() if i and i > 0)
    actual = sum(per_point_rows.get(n, 0) for n, i in intervals.items() if i and i > 0)
    silent = sorted(n for n in intervals if per_point_rows.get(n, 0) == 0)
    ratio = actual / expected if expected else 1.0
    return dg.AssetCheckResult(
        check_name=COVERAGE,
        passed=ratio >= warn_ratio,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "coverage": round(ratio, 4),
            "expected_samples": expected,
            "samples": actual,
            "warn_below": warn_ratio,
            "points_without_samples": len(silent),
            "silent_examples": ", ".join(silent[:10]),
        },
    )
