"""The schemas of every dataset under the storage root, and the Parquet settings and
metadata keys their writers and readers share."""

from __future__ import annotations

import pyarrow as pa

# raw/: what ACE sent, as sent (value and time are still strings).
RAW_SCHEMA = pa.schema([("name", pa.string()), ("value", pa.string()), ("time", pa.string())])

# archive/ and live/: the public archive contract (README, "The archive").
ARCHIVE_SCHEMA = pa.schema(
    [
        ("point", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("value", pa.float64()),
    ]
)
# The same columns as DuckDB reports them (`DESCRIBE`), for checks that read the file back.
ARCHIVE_DUCKDB_TYPES = {"point": "VARCHAR", "ts": "TIMESTAMP WITH TIME ZONE", "value": "DOUBLE"}
ARCHIVE_COLUMN_DOCS = {
    "point": "The ACE point name (e.g. ses/ses_falls_city/8000:33-8033/analogValue/102)",
    "ts": "Sample time, UTC, microseconds",
    "value": "Typed value by the value rule (numbers; true/active/on = 1; false/inactive/off = 0)",
}
# Row groups of 32 Ki rows (~23 point-days of a 1-minute site): a point query reads one group
# by the `point` min/max statistics and decodes 32 Ki rows, not 256 Ki (0.8 vs 2.7 ms a group,
# measured on a reference day); the day costs 1.95 instead of 1.58 bytes/sample, as each
# group carries its own `ts` dictionary (the archive writer cuts the `point` dictionary to
# the group's own names).
ROW_GROUP_ROWS = 32 * 1024
# Dictionary encoding on every column, chosen by measurement (benchmarks/README.md):
# points share scrape times, so `ts` is a small dictionary; BMS values repeat a lot.
PARQUET_OPTIONS = dict(compression="zstd", compression_level=6, use_dictionary=True, write_statistics=True)

# Parquet key-value metadata of an archive file: the catalog version it was built from
# (points/site=<s>/versions/<version>.parquet), so points_in_catalog checks against it.
ARCHIVE_CATALOG_META = "bv_catalog_version"
# "true" when the day was archived as a known partial day (run tag bv/accept_partial), so
# later checks and `bv verify` judge it the same way.
ARCHIVE_PARTIAL_META = "bv_accepted_partial"

# rollup/hourly/: per point and UTC hour.
ROLLUP_COLUMNS = ("point", "hour", "count", "sum", "min", "max", "first", "last")
# 32 Ki rows (~45 points x a month of hours): a point-month query decodes one small row group
# (0.4 ms instead of 1.3 ms at 128 Ki, measured), for ~1.4x the bytes of a file ~1/100 of its archive.
ROLLUP_ROW_GROUP_ROWS = 32_768
# Parquet key-value metadata of a rollup file: {"YYYY-MM-DD": archive bytes} of the days it
# was built from; a reader uses a day from the rollup only while that archive is unchanged.
ROLLUP_DAYS_META = "bv_source_days"

# points/: a site's collect-enabled point catalog.
BACNET_FIELDS = (
    "device_address",
    "device_id",
    "object_type",
    "object_index",
    "object_name",
    "device_name",
    "object_description",
    "device_description",
    "object_units",
    "scrape_interval",
    "scrape_enabled",
)
CATALOG_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("id", pa.int64()),
        ("site", pa.string()),
        ("client", pa.string()),
        ("point_type", pa.string()),
        ("collect_enabled", pa.bool_()),
        ("collect_interval", pa.int64()),
        ("marker_tags", pa.list_(pa.string())),
        ("kv_tags", pa.map_(pa.string(), pa.string())),
        ("unit", pa.string()),
        ("bacnet_json", pa.string()),
        *[(f"bacnet_{f}", pa.string()) for f in BACNET_FIELDS],
        ("created", pa.string()),
        ("updated", pa.string()),
    ]
)

# health/: per collect-enabled catalog point and UTC day, what bv_pipeline.point_health found
# in the archive file (one row per point, sorted by point; the columns are described there).
HEALTH_STATUSES = ("ok", "degraded", "dead")
HEALTH_SCHEMA = pa.schema(
    [
        ("point", pa.string()),
        ("status", pa.string()),  # ok | degraded | dead
        ("reason", pa.string()),  # "" when ok; findings joined by "; "
        ("severity", pa.int32()),  # sorts the worst first: dead > stale > flatline > range > count > spikes
        ("samples", pa.int64()),
        ("expected", pa.int64()),  # null: not judged on count (COV point without history)
        ("mode", pa.string()),  # interval | cov
        ("collect_interval", pa.int64()),
        ("kind", pa.string()),  # analog | discrete
        ("unit", pa.string()),
        ("first_ts", pa.timestamp("us", tz="UTC")),
        ("last_ts", pa.timestamp("us", tz="UTC")),
        ("longest_gap_s", pa.float64()),  # day edges count: a dead point has 86400
        ("stale", pa.bool_()),
        ("flatline", pa.bool_()),
        ("longest_flat_s", pa.float64()),
        ("out_of_range", pa.int64()),
        ("spikes", pa.int64()),
        ("min_value", pa.float64()),
        ("max_value", pa.float64()),
    ]
)
# Parquet key-value metadata of a health file: the thresholds and inputs it was computed with.
HEALTH_PARAMS_META = "bv_health_params"
