"""Query results as JSON (the original Query Worker's shape), CSV, Parquet or Arrow IPC.

JSON is streamed in chunks so a large result never sits in memory twice:
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
        part = table.slice(offset, CHUNK_ROWS)
        rows = [
            {"point_name": p, "timestamp": t, "value": v}
            for p, t, v in zip(
                part.column("point").to_pylist(), _epoch_ms(part.column("ts")).to_pylist(), part.column("value").to_pylist()
            )
        ]
        body = orjson.dumps(rows)[1:-1]
        yield (b"," + body) if offset else body
    yield b'],"metadata":' + orjson.dumps(result.metadata) + b"}"


def json_bytes(result: QueryResult) -> bytes:
    return b"".join(json_chunks(result))


def export_table(result: QueryResult) -> pa.Table:
    table = result.table
    return pa.table(
        {"point_name": table.column("point"), "timestamp": table.column("ts"), "value": table.column("value")}
    )


def csv_bytes(result: QueryResult) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(export_table(result), sink)
    return sink.getvalue()


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
