"""The value rule and time parsing, on the distinct-string level and per row."""

import numpy as np
import pyarrow as pa
import pytest

from bv_pipeline.timestamps import BAD_TIME, parse_time_dictionary
from bv_pipeline.values import NAN, NON_FINITE, NULL, UNPARSEABLE, VALID, parse_value_dictionary, parse_values


@pytest.mark.parametrize(
    "text, value",
    [
        ("71.0", 71.0),
        ("-24.8571", -24.8571),
        ("1445.0", 1445.0),
        ("1e3", 1000.0),
        (" 5 ", 5.0),
        ("5.", 5.0),
        (".5", 0.5),
        ("+2", 2.0),
        ("true", 1.0),
        ("TRUE", 1.0),
        ("active", 1.0),
        ("On", 1.0),
        ("false", 0.0),
        ("inactive", 0.0),
        ("off", 0.0),
    ],
)
def test_valid_values(text, value):
    parsed = parse_value_dictionary(pa.array([text]))
    assert parsed.categories[0] == VALID
    assert parsed.values[0] == value


@pytest.mark.parametrize(
    "text, category",
    [
        (None, NULL),
        ("nan", NAN),
        ("NaN", NAN),
        ("inf", NON_FINITE),
        ("-Infinity", NON_FINITE),
        ("1e999", NON_FINITE),
        ("", UNPARSEABLE),
        ("abc", UNPARSEABLE),
        ("0x10", UNPARSEABLE),
        ("1_000", UNPARSEABLE),
        ("12 degF", UNPARSEABLE),
    ],
)
def test_dropped_values_are_categorised(text, category):
    parsed = parse_value_dictionary(pa.array([text], pa.string()))
    assert parsed.categories[0] == category
    assert np.isnan(parsed.values[0])


def test_parse_values_per_row_keeps_row_alignment():
    values, cats = parse_values(pa.array(["1", None, "x", "1", "active"]))
    assert list(cats) == [VALID, NULL, UNPARSEABLE, VALID, VALID]
    assert values[0] == 1.0 and values[3] == 1.0 and values[4] == 1.0
    assert np.isnan(values[1]) and np.isnan(values[2])


def test_time_strings_naive_means_utc_and_zones_are_honoured():
    got = parse_time_dictionary(
        pa.array(
            [
                "2025-10-12T14:50:36.055960",
                "2025-10-12T14:50:36Z",
                "2025-10-12 14:50:36.1",
                "2025-10-12T16:50:36+02:00",
                "bad",
                None,
            ]
        )
    )
    base = 1760280636_000000
    assert list(got[:4]) == [base + 55960, base, base + 100000, base]
    assert got[4] == BAD_TIME and got[5] == BAD_TIME
