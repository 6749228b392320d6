"""DuckDB connections that read the storage in place and never download anything.

Extensions are never auto-installed or auto-loaded; for S3 the httpfs extension is loaded
from the `duckdb-extension-httpfs` pip package, whose version must equal duckdb's.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import duckdb

from bv_store.storage import S3Storage, Storage, StorageError


def httpfs_extension_path() -> Path:
    import duckdb_extension_httpfs

    version = duckdb.__version__
    path = Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{version}" / "httpfs.duckdb_extension"
    if not path.is_file():
        raise StorageError(
            f"httpfs for duckdb {version} not found at {path}: install duckdb-extension-httpfs=={version}"
        )
    return path


def _create_s3_secret(con: duckdb.DuckDBPyConnection, storage: S3Storage) -> None:
    params = {
        "TYPE": "s3",
        "KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "SECRET": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    }
    if os.environ.get("AWS_SESSION_TOKEN"):
        params["SESSION_TOKEN"] = os.environ["AWS_SESSION_TOKEN"]
    if storage.endpoint_url:
        endpoint = urlparse(storage.endpoint_url)
        params["ENDPOINT"] = endpoint.netloc
        params["URL_STYLE"] = "path"
        params["USE_SSL"] = "true" if endpoint.scheme == "https" else "false"
    # Values go in as literals inside a statement DuckDB does not log; they never reach ours.
    body = ", ".join(
        f"{k} {v}" if k in ("TYPE", "USE_SSL") else f"{k} '{str(v).replace(chr(39), chr(39) * 2)}'"
        for k, v in params.items()
    )
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET bv_s3 ({body})")


# Never fetch an extension at run time: httpfs comes from its pip package (see above).
OFFLINE_CONFIG = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def connection_config(*, memory_limit: str | None = None, threads: int | None = None) -> dict[str, str]:
    config = dict(OFFLINE_CONFIG)
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = str(threads)
    return config


def prepare_connection(con: duckdb.DuckDBPyConnection, storage: Storage | None) -> duckdb.DuckDBPyConnection:
    """UTC, no progress bar, and — for S3 storage — httpfs from its pip package plus a
    temporary secret; used by every connection of the project (and the Dagster resource)."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # it would write into run logs and pipes
    if isinstance(storage, S3Storage):
        con.execute(f"LOAD '{httpfs_extension_path()}'")
        _create_s3_secret(con, storage)
    return con


def duckdb_connect(
    storage: Storage | None = None, *, memory_limit: str | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:", config=connection_config(memory_limit=memory_limit, threads=threads))
    return prepare_connection(con, storage)
