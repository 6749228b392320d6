"""publish(): a file reaches its key whole and verified, or nothing changes — on a folder and on S3."""

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bv_store.publish import PublishError, publish, publish_bytes
from bv_store.storage import TEMP_MARK, LocalStorage

KEY = "archive/site=demo/date=2025-02-28/data.parquet"


def _table(n: int) -> pa.Table:
    return pa.table({"point": [f"p{i}" for i in range(n)], "value": [float(i) for i in range(n)]})


def _read(storage, key) -> pa.Table:
    return pq.read_table(io.BytesIO(storage.read_bytes(key)))


def _assert_no_scratch(storage, scratch_paths=None):
    if scratch_paths is not None:
        assert scratch_paths, "write was never called"
    assert [p for p in scratch_paths or [] if Path(p).exists()] == []
    if isinstance(storage, LocalStorage):
        scratch_dir = storage.root / ".scratch"
        assert not scratch_dir.exists() or list(scratch_dir.iterdir()) == []
        assert [p for p in storage.root.rglob("*") if TEMP_MARK in p.name] == []


def test_publish_writes_a_parquet_file_that_reads_back(storage):
    table = _table(5)
    done = publish(storage, KEY, lambda path: pq.write_table(table, path), expect_rows=5)
    assert storage.exists(KEY) and storage.list("archive/") == [KEY]
    assert _read(storage, KEY).equals(table)
    assert done.rows == 5 and done.file_bytes == storage.size(KEY) > 0
    assert done.key == KEY and done.uri == storage.uri(KEY) and done.uri.endswith(KEY)


def _failing_writer(scratch_paths):
    def write(path):
        scratch_paths.append(path)
        writer = pq.ParquetWriter(path, _table(1).schema)
        writer.write_table(_table(1000))  # part of the file is on disk...
        raise OSError("disk went away")  # ...and the writer never closes it
    return write


def test_write_failing_midway_publishes_nothing(storage):
    scratch = []
    with pytest.raises(OSError, match="disk went away"):
        publish(storage, KEY, _failing_writer(scratch), expect_rows=1000)
    assert not storage.exists(KEY) and storage.list("") == []
    _assert_no_scratch(storage, scratch)


def test_write_failing_midway_keeps_the_previous_file(storage):
    publish(storage, KEY, lambda path: pq.write_table(_table(3), path), expect_rows=3)
    before = storage.read_bytes(KEY)
    scratch = []
    with pytest.raises(OSError):
        publish(storage, KEY, _failing_writer(scratch))
    assert storage.read_bytes(KEY) == before
    assert storage.list("") == [KEY]
    _assert_no_scratch(storage, scratch)


def _recording(scratch, write):
    def wrapped(path):
        scratch.append(path)
        write(path)
    return wrapped


def test_expect_rows_mismatch_publishes_nothing(storage):
    scratch = []
    with pytest.raises(PublishError, match="wrote 4 rows but the file reads back 3"):
        publish(storage, KEY, _recording(scratch, lambda p: pq.write_table(_table(3), p)), expect_rows=4)
    assert not storage.exists(KEY)
    _assert_no_scratch(storage, scratch)


def test_expect_rows_mismatch_keeps_the_previous_file(storage):
    publish(storage, KEY, lambda path: pq.write_table(_table(2), path))
    before = storage.read_bytes(KEY)
    with pytest.raises(PublishError):
        publish(storage, KEY, lambda p: pq.write_table(_table(9), p), expect_rows=8)
    assert storage.read_bytes(KEY) == before


@pytest.mark.parametrize("content", [b"not parquet at all", b"", b"PAR1" + b"\0" * 10])
def test_non_parquet_file_for_a_parquet_key_is_refused(storage, content):
    scratch = []
    with pytest.raises(PublishError, match="does not read back as Parquet"):
        publish(storage, KEY, _recording(scratch, lambda p: Path(p).write_bytes(content)), what="archive demo")
    assert not storage.exists(KEY)
    _assert_no_scratch(storage, scratch)


def test_expect_rows_callable_is_evaluated_after_write(storage):
    counted = {"rows": 0, "asked_at": None}

    def write(path):
        table = _table(7)
        pq.write_table(table, path)
        counted["rows"] += table.num_rows

    def expect():
        counted["asked_at"] = counted["rows"]
        return counted["rows"]

    done = publish(storage, KEY, write, expect_rows=expect)
    assert counted["asked_at"] == 7 and done.rows == 7
    assert _read(storage, KEY).num_rows == 7


def test_publish_bytes_round_trips(storage):
    key = "state/live_cursor/site=demo/cursor.json"
    data = b'{"window_end": "2025-02-28T10:00:00Z"}'
    done = publish_bytes(storage, key, data)
    assert storage.read_bytes(key) == data and done.file_bytes == len(data) and done.rows is None
    publish_bytes(storage, key, b"{}")
    assert storage.read_bytes(key) == b"{}" and storage.list("state/") == [key]
    _assert_no_scratch(storage)
