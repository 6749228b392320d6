"""archive_content_matches_raw's re-derivation: the cheap as-sent path may only stand in for
the full dedupe when it proves the same thing; every wrong archive still fails."""

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bv_pipeline.archive_build import transform_raw_table, write_archive_file
from bv_pipeline.verify import archive_facts_and_content, content_mismatches, expected_content, reconciled_content
from bv_store.duckdb_conn import duckdb_connect

DAY = date(2025, 3, 4)
NAMES = ["a/x", "b/y"]


def raw_table(rows):
    return pa.table({"name": [r[0] for r in rows], "value": [r[1] for r in rows], "time": [r[2] for r in rows]})


CLEAN = [("a/x", "1.0", "2025-03-04T00:00:00.5"), ("b/y", "2.0", "2025-03-04T00:00:00.5"),
         ("a/x", "3.0", "2025-03-04T00:01:00.5"), ("b/y", "on", "2025-03-04T00:01:00.5")]
RESENT = CLEAN + [("a/x", "9.0", "2025-03-04T00:01:00.5")]  # a conflicting re-send: 9.0 wins


def judge(tmp_path, raw_rows, archive: pa.Table):
    raw_path, archive_path = tmp_path / "raw.parquet", tmp_path / "archive.parquet"
    pq.write_table(raw_table(raw_rows), raw_path)
    write_archive_file(archive, archive_path)
    with duckdb_connect() as con:
        facts, actual = archive_facts_and_content(con, str(archive_path), NAMES, DAY)
        expected = reconciled_content(con, str(raw_path), NAMES, DAY, actual, facts.duplicate_keys)
        full = expected_content(con, str(raw_path), NAMES, DAY)
    assert not content_mismatches(full, expected)  # whichever path ran, it agrees with the full one
    return content_mismatches(expected, actual), facts


@pytest.mark.parametrize("rows", [CLEAN, RESENT], ids=["clean", "re-sent"])
def test_a_right_archive_passes(tmp_path, rows):
    archive, *_ = transform_raw_table(raw_table(rows), NAMES, DAY)
    bad, facts = judge(tmp_path, rows, archive)
    assert bad == [] and facts.sorted_ok and facts.duplicate_keys == 0


def test_an_archive_that_kept_the_first_of_a_re_send_fails(tmp_path):
    archive, *_ = transform_raw_table(raw_table(RESENT[:-1]), NAMES, DAY)  # 3.0 kept, 9.0 was sent last
    bad, _ = judge(tmp_path, RESENT, archive)
    assert bad and bad[0].startswith("a/x")


def test_an_archive_that_kept_every_re_send_fails_although_it_equals_the_raw_as_sent(tmp_path):
    archive, *_ = transform_raw_table(raw_table(RESENT), NAMES, DAY)
    doubled = pa.concat_tables([archive.slice(0, 2), archive.slice(1)])  # a/x 00:01 twice, sorted
    doubled = doubled.set_column(2, "value", pa.array([1.0, 3.0, 9.0, 2.0, 1.0]))  # = raw as sent
    bad, facts = judge(tmp_path, RESENT, doubled)
    assert facts.duplicate_keys == 1 and facts.sorted_ok
    assert bad and bad[0].startswith("a/x")


def test_order_within_a_point_and_between_points_is_checked(tmp_path):
    archive, *_ = transform_raw_table(raw_table(CLEAN), NAMES, DAY)
    plain = archive.set_column(0, "point", archive.column("point").cast(pa.string()))
    swapped_ts = pa.concat_tables([plain.slice(1, 1), plain.slice(0, 1), plain.slice(2)])
    points_interleaved = pa.concat_tables([plain.slice(0, 1), plain.slice(2, 1), plain.slice(1, 1), plain.slice(3)])
    for table in (swapped_ts, points_interleaved):
        _, facts = judge(tmp_path, CLEAN, table)
        assert not facts.sorted_ok
