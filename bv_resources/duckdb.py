"""DuckDB for assets and checks: dagster-duckdb's resource, offline and storage-aware.

In-memory (the files under the storage root are the data), extensions never downloaded
(httpfs is loaded from its pip package for S3 storage), memory bounded per connection.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from bv_store.duckdb_conn import OFFLINE_CONFIG, prepare_connection
from bv_store.storage import Storage


class StorageDuckDBResource(DuckDBResource):
    """`DuckDBResource` that reads the storage in place: `with duckdb.connect(storage) as con`."""

    database: str = Field(default=":memory:", description="In-memory: the Parquet files are the data")
    connection_config: dict = Field(default=dict(OFFLINE_CONFIG, memory_limit="1GB"),
                                    description="DuckDB settings; extensions are never auto-installed")

    @contextmanager
    def connect(self, storage: Storage | None) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.get_connection() as con:
            yield prepare_connection(con, storage)

    def connect_factory(self):
        """A `storage -> context manager` callable, for plain functions that open their own."""
        return self.connect
