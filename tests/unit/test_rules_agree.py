"""The writer's value and time rules (bv_pipeline.values / timestamps, Python) and the
archive check's (bv_pipeline.verify, SQL) are written separately; on every tricky input
they must agree, or correct archives would fail their content check."""

from __future__ import annotations

import math

import duckdb
import pyarrow as pa
import pytest

from bv_pipeline.timestamps import BAD_TIME, parse_time_dictionary
from bv_pipeline.values import VALID, parse_value_dictionary
from bv_pipeline.verify import SQL_FALSE, SQL_NUMBER, SQL_TRUE, TIME_US, TRIMMED

TIMES = [
    "2025-01-05T01:00:00.123456", "2025-01-05 01:00:00", "2025-01-05t01:00:00z", " 2025-01-05T01:00:00Z ",
    "2025-01-05T01:00:00+01:00", "2025-01-05T01:00:00+0100", "2025-01-05T01:00:00-05:30", "2025-01-05T01:00",
    "2025-01-05T01:00:00.5", "2025-1-5T01:00:00", "T1:00:00", "20250105T010000", "2025-W01-1", "2025-01-05T01",
    "2025-01-05T01:00:00.1234567", "2025-02-30T00:00:00", "2025-01-05T24:00:00", "2025-01-05T23:59:60",
    "2025-01-05T01:00:00+24:00", "2025-01-05T01:00:00+05:75", "2025-01-05T01:00:00 +01:00", "", "garbage",
]
VALUES = [
    "71.0", " 1.5 ", "\t2\n", "TRUE", "true", "Active", "ON", "false", "inactive", "Off", "1e3", "+5", ".5", "5.",
    "-0", "1e308", "1.8e308", "1e-400", "nan", "NaN", "inf", "-Infinity", "1_000", "0x10", "", "abc", "1,5", "١٢",
]


def _con():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


@pytest.mark.parametrize("text", TIMES)
def test_time_rules_agree(text):
    py = int(parse_time_dictionary(pa.array([text]))[0])
    sql = _con().execute(f"SELECT {TIME_US} FROM (SELECT ? AS time)", [text]).fetchone()[0]
    assert (None if py == BAD_TIME else py) == sql


@pytest.mark.parametrize("text", VALUES)
def test_value_rules_agree(text):
    parsed = parse_value_dictionary(pa.array([text]))
    py = float(parsed.values[0]) if parsed.categories[0] == VALID else None
    words_t = ", ".join(f"'{w}'" for w in SQL_TRUE)
    words_f = ", ".join(f"'{w}'" for w in SQL_FALSE)
    sql = _con().execute(
        f"""SELECT CASE WHEN lower({TRIMMED}) IN ({words_t}) THEN 1.0
                        WHEN lower({TRIMMED}) IN ({words_f}) THEN 0.0
                        WHEN regexp_full_match(lower({TRIMMED}), '{SQL_NUMBER}')
                             AND isfinite(TRY_CAST({TRIMMED} AS DOUBLE)) THEN TRY_CAST({TRIMMED} AS DOUBLE) END
            FROM (SELECT ? AS value)""", [text]).fetchone()[0]
    assert py == sql and (py is None or math.copysign(1, py) == math.copysign(1, sql))
