"""The archive footer's point index: the writer records every row group's point runs, the
direct reader uses them instead of decoding the point column only when they agree with the
footer, and the archive check compares them with the rows and fails on any disagreement."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bv_pipeline.archive_build as archive_build
from bv_query import direct
from bv_query.direct import DirectReader
from bv_query.cache import ByteLRU
from bv_store import point_index
from bv_store.point_index import POINT_INDEX_META, PointIndex, index_problem
from bv_store.schemas import ARCHIVE_SCHEMA

# Names with long shared prefixes, one that is a prefix of the next, and non-ASCII text.
POINTS = sorted(["dev1/ai/1", "dev1/ai/10", "dev1/ai/2", "dev1/ai/2x", "dev2/bv/1", "dév/ünï/1", "z"])
ROWS = {p: 3 + 4 * i for i, p in enumerate(POINTS)}  # 3..27 rows: points straddle groups of 10


def archive_table() -> pa.Table:
    names, ts, values = [], [], []
    for i, point in enumerate(POINTS):
        n = ROWS[point]
        names += [point] * n
        ts += list(1_740_000_000_000_000 + np.arange(n) * 60_000_000 + i)
        values += list(np.arange(n) * 0.5 + i)
    dictionary = pa.array(POINTS)
    codes = pa.array([POINTS.index(n) for n in names], pa.int32())
    return pa.table({"point": pa.DictionaryArray.from_arrays(codes, dictionary),
                     "ts": pa.array(ts, pa.int64()).cast(ARCHIVE_SCHEMA.field("ts").type),
                     "value": pa.array(values, pa.float64())})


def write(path, monkeypatch, encode=None):
    """An archive file in groups of 10 rows; `encode` stands in for a writer bug (the writer's
    own read-back is switched off with it, so the reader and the check meet the bad index)."""
    monkeypatch.setattr(archive_build, "ROW_GROUP_ROWS", 10)
    if encode is not None:
        monkeypatch.setattr(archive_build, "encode_point_index", encode)
        monkeypatch.setattr(archive_build, "_verify_point_index", lambda path, runs: None)
    archive_build.write_archive_file(archive_table(), path, "v1")
    return pq.read_metadata(path)


def rows_runs(path) -> list[tuple[str, int, int]]:
    names = pq.read_table(path, columns=["point"]).column("point").to_pylist()
    out, at = [], 0
    for point in POINTS:
        out.append((point, at, names.count(point)))
        at += names.count(point)
    return out


def test_the_writer_records_every_groups_runs_and_they_match_the_rows(tmp_path, monkeypatch):
    meta = write(tmp_path / "a.parquet", monkeypatch)
    assert meta.num_row_groups == 11
    index = PointIndex.from_metadata(meta.metadata, meta.num_row_groups)
    assert index.file_runs(meta.num_row_groups) == rows_runs(tmp_path / "a.parquet")
    assert index_problem(meta, rows_runs(tmp_path / "a.parquet")) is None
    # Front coding: the stored suffixes are short, the names come back whole.
    line = meta.metadata[POINT_INDEX_META.encode()].split(b"\n")[1]
    assert json.loads(line)[1][:2] == [9, "0"]  # "dev1/ai/1" -> "dev1/ai/10"
    # Only in the Parquet footer, not a second copy inside ARROW:schema.
    assert POINT_INDEX_META.encode() not in (pq.ParquetFile(tmp_path / "a.parquet").schema_arrow.metadata or {})


def _answers(path) -> dict[str, tuple[list, list]]:
    reader = DirectReader(ByteLRU(1 << 20))
    out = {}
    for point in POINTS + ["absent/point", "dev1/ai/15"]:
        got = reader.point_rows(str(path), point, ("ts", "value"))
        out[point] = None if got is None else (got["ts"].tolist(), got["value"].tolist())
    return out


def _truth(path) -> dict[str, tuple[list, list]]:
    t = pq.read_table(path)
    names, values = t.column("point").to_pylist(), t.column("value").to_pylist()
    ts = t.column("ts").cast(pa.int64()).to_pylist()
    out = {p: None for p in POINTS + ["absent/point", "dev1/ai/15"]}
    for point in POINTS:
        rows = [i for i, n in enumerate(names) if n == point]
        out[point] = ([ts[i] for i in rows], [values[i] for i in rows])
    return out


def test_the_reader_uses_the_index_and_never_decodes_the_point_column(tmp_path, monkeypatch):
    path = tmp_path / "a.parquet"
    write(path, monkeypatch)

    def decoded(*_):
        raise AssertionError("the point column was decoded although the file has an index")

    monkeypatch.setattr(direct, "_runs", decoded)
    assert _answers(path) == _truth(path)


def test_the_writer_refuses_an_index_that_does_not_read_back(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_build, "ROW_GROUP_ROWS", 10)
    monkeypatch.setattr(archive_build, "encode_point_index", _lying(_first_two_swapped))
    with pytest.raises(archive_build.ArchiveError, match="point index written for row group 0"):
        archive_build.write_archive_file(archive_table(), tmp_path / "a.parquet", "v1")


@pytest.mark.parametrize("how", ["absent", "unusable"])
def test_without_an_index_the_reader_decodes_the_point_column(tmp_path, monkeypatch, how):
    path = tmp_path / "a.parquet"
    if how == "absent":  # a file from before the index
        monkeypatch.setattr(archive_build, "ROW_GROUP_ROWS", 10)
        pq.write_table(archive_table(), path, row_group_size=10)
    else:
        write(path, monkeypatch, encode=lambda runs: "")
    calls = []
    real = direct._runs

    def counted(column, path, rg):
        calls.append(rg)
        return real(column, path, rg)

    monkeypatch.setattr(direct, "_runs", counted)
    assert _answers(path) == _truth(path)
    assert calls


def _lying(change):
    def encode(runs):
        runs = [list(g) for g in runs]
        change(runs)
        return point_index.encode(runs)
    return encode


def _first_two_swapped(runs):  # rows still add up, names still ascend: only the rows can tell
    (a, n), (b, m) = runs[0][0], runs[0][1]
    runs[0][0], runs[0][1] = (a, m), (b, n)


def _one_row_more(runs):
    name, n = runs[2][0]
    runs[2][0] = (name, n + 1)


def _a_name_renamed(runs):
    name, n = runs[1][-1]
    runs[1][-1] = (name + "0", n)


@pytest.mark.parametrize("change", [_one_row_more, _a_name_renamed], ids=["rows off by one", "last name wrong"])
def test_a_line_that_disagrees_with_the_footer_is_not_trusted(tmp_path, monkeypatch, change):
    path = tmp_path / "a.parquet"
    meta = write(path, monkeypatch, encode=_lying(change))
    assert _answers(path) == _truth(path)  # the reader decoded the point column instead
    assert index_problem(meta, rows_runs(path))


def _boundary_moved_across_groups(runs):  # file-wide runs unchanged: only the footer can tell
    rg = next(g for g in range(len(runs) - 1) if runs[g][-1][0] == runs[g + 1][0][0])  # a straddling point
    (a, n), (b, m) = runs[rg][-1], runs[rg + 1][0]
    runs[rg][-1], runs[rg + 1][0] = (a, n + 1), (b, m - 1)


@pytest.mark.parametrize("encode", [
    _lying(_first_two_swapped), _lying(_one_row_more), _lying(_a_name_renamed), _lying(_boundary_moved_across_groups),
    lambda runs: point_index.encode(runs[:-1]),  # a row group without its line
    lambda runs: point_index.encode(runs).replace("[[0,", "[[0,]", 1),  # malformed JSON
    lambda runs: "2" + point_index.encode(runs)[1:],  # a version this reader does not know
    lambda runs: point_index.encode(runs).replace('[[0,"', '[[true,"', 1),  # a bool where a number belongs
], ids=["boundary moved", "rows off by one", "last name wrong", "boundary moved across groups", "line missing",
        "malformed", "unknown version", "bool shared"])
def test_the_check_fails_on_every_disagreeing_index(tmp_path, monkeypatch, encode):
    path = tmp_path / "a.parquet"
    meta = write(path, monkeypatch, encode=encode)
    problem = index_problem(meta, rows_runs(path))
    assert problem and "point index" in problem


def test_a_file_without_an_index_passes_the_check(tmp_path):
    table = archive_table()
    pq.write_table(table, tmp_path / "old.parquet")
    meta = pq.read_metadata(tmp_path / "old.parquet")
    assert index_problem(meta, rows_runs(tmp_path / "old.parquet")) is None


def test_neighbouring_points_of_one_row_group_decode_it_once(tmp_path, monkeypatch):
    """A dashboard's points of one device share a row group: one decode serves them all
    (the decoded group is kept in a short ring), and each point's rows are right."""
    path = tmp_path / "a.parquet"
    write(path, monkeypatch)
    reads = []
    real = pq.ParquetFile.read_row_group

    def counted(self, i, *args, **kwargs):
        reads.append(i)
        return real(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counted)
    reader, truth = DirectReader(ByteLRU(1 << 20)), _truth(path)
    for point in POINTS[:3]:  # rows 0..20: row groups 0, 1 and 2
        got = reader.point_rows(str(path), point, ("ts", "value"))
        assert (got["ts"].tolist(), got["value"].tolist()) == truth[point]
    assert sorted(reads) == [0, 1, 2]


def test_footers_are_kept_within_their_byte_budget(tmp_path, monkeypatch):
    """Old footers are dropped once the kept ones pass FOOTER_BUDGET_BYTES; answers stay right."""
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.parquet")
        write(paths[-1], monkeypatch)
    one = pq.read_metadata(paths[0]).serialized_size
    monkeypatch.setattr(DirectReader, "FOOTER_BUDGET_BYTES", 2 * one * 2)  # two files' worth (each counted twice)
    reader, truth = DirectReader(ByteLRU(0)), _truth(paths[0])
    for path in paths:
        got = reader.point_rows(str(path), POINTS[3], ("ts", "value"))
        assert (got["ts"].tolist(), got["value"].tolist()) == truth[POINTS[3]]
    assert list(reader._files) == [str(p) for p in paths[1:]]
    assert reader._footer_bytes == sum(f.footer_bytes for f in reader._files.values())
