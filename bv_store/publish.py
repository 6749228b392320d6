"""The one way a file reaches storage: written on scratch, verified, published atomically.

    done = publish(storage, key, lambda path: pq.write_table(table, path), expect_rows=n)
    # here the file is at `key`: whole, re-read, row-counted; done.file_bytes, done.uri

If `write` raises or the verification fails, nothing is published, and the scratch file is
removed either way; a reader never sees a partial file (see `Storage.put_file`). A write that
fails in the operating system (a full disk) is re-raised as `StorageWriteError` naming the
scratch path and the key. Crash points (`bv_store.faults`, off by default) mark each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq

from bv_store.faults import crash_point_for_key
from bv_store.storage import Storage, StorageError, StorageWriteError


class PublishError(RuntimeError):
    """The scratch file failed its verification; nothing was published."""


@dataclass
class Published:
    """Filled in once the file is at its key."""

    key: str
    uri: str = ""
    file_bytes: int = 0
    rows: int | None = None


def verify_file(path: Path, *, suffix: str, expect_rows: int | None, what: str) -> int | None:
    """Rows of a Parquet file (re-read from its footer); raises if it is not what was meant."""
    if not Path(path).is_file():
        raise PublishError(f"{what}: nothing was written to scratch; nothing published")
    if suffix != ".parquet":
        return None
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a broken footer
        raise PublishError(f"{what}: the written file does not read back as Parquet ({exc}); nothing published") from exc
    if expect_rows is not None and rows != expect_rows:
        raise PublishError(f"{what}: wrote {expect_rows} rows but the file reads back {rows}; nothing published")
    return rows


def publish(
    storage: Storage,
    key: str,
    write: Callable[[Path], None],
    *,
    suffix: str = ".parquet",
    expect_rows: int | Callable[[], int] | None = None,
    what: str = "",
) -> Published:
    """`write(scratch_path)`, then verify and publish; returns where it went and its size.

    `expect_rows` may be a callable, asked after `write` (for writers that count as they go).
    """
    out = Published(key=key)
    scratch = storage.new_temp_path(suffix)
    try:
        try:
            write(scratch)
        except OSError as exc:
            if isinstance(exc, StorageError):
                raise
            raise StorageWriteError(
                exc.errno, f"{what or key}: writing the scratch file {scratch} for {storage.uri(key)} failed "
                f"({exc}); nothing published"
            ) from exc
        crash_point_for_key(key, "scratch_written")
        expected = expect_rows() if callable(expect_rows) else expect_rows
        out.rows = verify_file(scratch, suffix=suffix, expect_rows=expected, what=what or key)
        crash_point_for_key(key, "verified")
        out.file_bytes = storage.put_file(scratch, key)
        crash_point_for_key(key, "published")
    finally:
        Path(scratch).unlink(missing_ok=True)
    out.uri = storage.uri(key)
    return out


def publish_bytes(storage: Storage, key: str, data: bytes) -> Published:
    """Small state files (the live cursor): the same atomic put, no Parquet check."""
    return publish(storage, key, lambda path: Path(path).write_bytes(data), suffix=".bin")
