"""Query results as JSON (the original Query Worker's shape), CSV, Parquet or Arrow IPC.

Large raw CSV exports do not come through here whole: bv_query/export.py streams them a
day at a time with `csv_rows`. JSON is streamed in chunks so a large result never sits in
memory twice:
`{"site_name", "point_names", "samples": [{"point_name", "timestamp" (epoch ms), "value"}],
"metadata": {...}}`.
"""

from __future__ import annotations

import io
from typing import Iterator

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bv_query.engine import QueryResult

CHUNK_ROWS = 20_000
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}


def _epoch_ms(column: pa.ChunkedArray) -> pa.Array:
    return pc.divide(column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()), 1000)


def json_chunks(result: QueryResult) -> Iterator[bytes]:
    req = result.request
    yield b'{"site_name":' + orjson.dumps(req.site) + b',"point_names":' + orjson.dumps(list(req.points))
    yield b',"samples":['
    table = result.table
    for offset in range(0, table.num_rows, CHUNK_ROWS):
        body = sample_objects(table.slice(offset, CHUNK_ROWS))
        yield (b"," + body) if offset else body
    yield b'],"metadata":' + orjson.dumps(result.metadata) + b"}"


def sample_objects(part: pa.Table) -> bytes:
    """`{"point_name":…,"timestamp":…,"value":…}` objects joined by commas: the bytes orjson
    writes for a list of those dicts, without a dict per row. orjson still formats every name,
    timestamp and value (one call per column); the pieces are then joined in one go."""
    n = part.num_rows
    if n == 0:
        return b""
    points = part.column("point").combine_chunks().dictionary_encode()
    heads = [b'{"point_name":' + orjson.dumps(name) + b',"timestamp":' for name in points.dictionary.to_pylist()]
    stamps = _json_list(_epoch_ms(part.column("ts")))
    values = _json_list(part.column("value"))
    pieces = [b"},"] * (5 * n)
    pieces[0::5] = [heads[0]] * n if len(heads) == 1 else list(map(heads.__getitem__, points.indices.to_pylist()))
    pieces[1::5] = stamps
    pieces[2::5] = [b',"value":'] * n
    pieces[3::5] = values
    pieces[-1] = b"}"
    return b"".join(pieces)


def _json_list(column) -> list[bytes]:
    """Each element as orjson writes it; without nulls through numpy (the same number
    formatting, checked in tests/integration/test_query_api.py), else through Python objects."""
    if column.null_count == 0:
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        text = orjson.dumps(array.to_numpy(zero_copy_only=False), option=orjson.OPT_SERIALIZE_NUMPY)
    else:
        text = orjson.dumps(column.to_pylist())
    return text[1:-1].split(b",")


def json_bytes(result: QueryResult) -> bytes:
    return b"".join(json_chunks(result))


def export_table(result: QueryResult) -> pa.Table:
    table = result.table
    return pa.table(
        {"point_name": table.column("point"), "timestamp": table.column("ts"), "value": table.column("value")}
    )


# CSV: point_name, timestamp as `YYYY-MM-DD HH:MM:SS.ffffffZ` (UTC), value (empty for null).
# Timestamps are formatted from naive UTC and given their "Z": Arrow's CSV writer formats
# zoned timestamps ~25x slower, which made a large export CPU-bound on the server.
CSV_SOURCE_SCHEMA = pa.schema([("point", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("value", pa.float64())])
CSV_SCHEMA = pa.schema([("point_name", pa.string()), ("timestamp", pa.string()), ("value", pa.float64())])
CSV_HEADER = b'"point_name","timestamp","value"\n'
_CSV_ROWS = pacsv.WriteOptions(include_header=False)


def csv_rows(rows: pa.RecordBatch | pa.Table) -> bytes:
    """CSV lines (no header) of (point, ts, value) rows."""
    utc = rows.column("ts").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).cast(pa.timestamp("us"))
    stamp = pc.binary_join_element_wise(utc.cast(pa.string()), "Z", "")
    out = pa.table([rows.column("point").cast(pa.string()), stamp, rows.column("value")], schema=CSV_SCHEMA)
    sink = io.BytesIO()
    pacsv.write_csv(out, sink, _CSV_ROWS)
    return sink.getvalue()


def csv_chunks(result: QueryResult) -> Iterator[bytes]:
    yield CSV_HEADER
    table = result.table
    for offset in range(0, table.num_rows, CHUNK_ROWS):
        yield csv_rows(table.slice(offset, CHUNK_ROWS))


def csv_bytes(result: QueryResult) -> bytes:
    return b"".join(csv_chunks(result))


def parquet_bytes(result: QueryResult) -> bytes:
    sink = io.BytesIO()
    pq.write_table(export_table(result), sink, compression="zstd")
    return sink.getvalue()


def arrow_bytes(result: QueryResult) -> bytes:
    sink = io.BytesIO()
    table = export_table(result)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
