"""The rule that turns ACE's string values into doubles (documented in README "Value rule").

ACE sends every value as a string. Applied case-insensitively, after trimming whitespace:
- a decimal or exponent number ("71.0", "-24.8571", "1e3")      -> that number
- "true", "active", "on"                                          -> 1.0
- "false", "inactive", "off"                                      -> 0.0
- null / missing                                                  -> dropped, counted `null`
- "nan"                                                           -> dropped, counted `nan`
- "inf", "-inf", "infinity", or a number too large for a double   -> dropped, counted `non_finite`
- anything else                                                   -> dropped, counted `unparseable`
Nothing is dropped silently: every category is counted and reported in the asset metadata.

Parsing runs over the *distinct* strings only (a dictionary array), so a site-day of
millions of samples parses its few thousand distinct values once each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ASCII_WHITESPACE = " \t\n\v\f\r"

TRUE_WORDS = ("true", "active", "on")
FALSE_WORDS = ("false", "inactive", "off")
NAN_WORDS = ("nan", "+nan", "-nan")
NUMBER_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"

# Category codes per distinct value.
VALID, NULL, NAN, NON_FINITE, UNPARSEABLE = 0, 1, 2, 3, 4
CATEGORY_NAMES = {NULL: "null", NAN: "nan", NON_FINITE: "non_finite", UNPARSEABLE: "unparseable"}


@dataclass
class ParsedValues:
    """Per distinct string: the double (NaN where dropped) and its category code."""

    values: np.ndarray  # float64
    categories: np.ndarray  # int8


def parse_value_dictionary(dictionary: pa.Array) -> ParsedValues:
    """Parse the distinct value strings of a dictionary array (nulls allowed)."""
    n = len(dictionary)
    values = np.full(n, np.nan, dtype=np.float64)
    categories = np.full(n, UNPARSEABLE, dtype=np.int8)
    if n == 0:
        return ParsedValues(values, categories)
    # ASCII whitespace only, exactly what the SQL re-count in verify.py trims.
    norm = pc.utf8_lower(pc.utf8_trim(dictionary.cast(pa.string()), characters=ASCII_WHITESPACE))
    is_null = pc.is_null(norm).to_numpy(zero_copy_only=False)
    norm_filled = pc.fill_null(norm, "")

    is_true = pc.is_in(norm_filled, value_set=pa.array(TRUE_WORDS)).to_numpy(zero_copy_only=False)
    is_false = pc.is_in(norm_filled, value_set=pa.array(FALSE_WORDS)).to_numpy(zero_copy_only=False)
    is_nan = pc.is_in(norm_filled, value_set=pa.array(NAN_WORDS)).to_numpy(zero_copy_only=False)
    is_number = pc.match_substring_regex(norm_filled, NUMBER_RE).to_numpy(zero_copy_only=False)

    if is_number.any():
        numbers = pc.cast(pc.filter(norm_filled, pa.array(is_number)), pa.float64()).to_numpy()
        values[is_number] = numbers
        finite = np.isfinite(numbers)
        idx = np.flatnonzero(is_number)
        categories[idx[finite]] = VALID
        categories[idx[~finite]] = NON_FINITE
    values[is_true] = 1.0
    values[is_false] = 0.0
    categories[is_true | is_false] = VALID
    categories[is_nan] = NAN
    # "inf"-like words are not numbers by the regex; name them for the operator.
    is_inf_word = pc.is_in(
        norm_filled, value_set=pa.array(["inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"])
    ).to_numpy(zero_copy_only=False)
    categories[is_inf_word] = NON_FINITE
    categories[is_null] = NULL
    values[categories != VALID] = np.nan
    return ParsedValues(values, categories)


def parse_values(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse a plain array of value strings; returns per-row (values, categories)."""
    encoded = pc.dictionary_encode(strings)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    parsed = parse_value_dictionary(encoded.dictionary)
    idx = encoded.indices.to_numpy(zero_copy_only=False)
    # A null string has a null index: route it to an extra "null" slot.
    null_rows = encoded.indices.is_null().to_numpy(zero_copy_only=False)
    idx = np.where(null_rows, len(parsed.values), np.nan_to_num(idx, nan=0)).astype(np.int64)
    vals = np.append(parsed.values, np.nan)[idx]
    cats = np.append(parsed.categories, np.int8(NULL))[idx]
    return vals, cats
