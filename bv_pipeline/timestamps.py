"""ACE time strings -> UTC epoch microseconds.

ACE sends ISO 8601 with microseconds and no zone (naive means UTC); we also accept a `Z`
or `±HH[:]MM` suffix, a space instead of `T`, either letter case and surrounding whitespace.
Exactly this shape is a time (the archive check's SQL implements the same contract on its
own); anything else — week dates, basic format, unpadded fields — is a bad time.
Parsing runs over distinct strings only.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BAD_TIME = np.iinfo(np.int64).min  # sentinel for an unparseable time string
_ZONED_RE = r"(Z|[+-]\d{2}:?\d{2})$"
TIME_SHAPE = (r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
              r"(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?$")


def _parse_one(text: str | None) -> int:
    if text is None:
        return BAD_TIME
    try:
        dt = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        return BAD_TIME
    return datetime_us(dt)


def datetime_us(dt: datetime) -> int:
    """Epoch microseconds of `dt`, naive meaning UTC (integer arithmetic: no float rounding)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _cast_group(strings: pa.Array, zoned: bool) -> np.ndarray:
    target = pa.timestamp("us", tz="UTC") if zoned else pa.timestamp("us")
    try:
        return pc.cast(strings, target).cast(pa.int64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Arrow's fast ISO parser refuses a few valid spellings; fall back per string.
        return np.array([_parse_one(s) for s in strings.to_pylist()], dtype=np.int64)


def parse_time_dictionary(dictionary: pa.Array) -> np.ndarray:
    """Epoch microseconds (UTC) per distinct time string; BAD_TIME where unparseable."""
    out = np.full(len(dictionary), BAD_TIME, dtype=np.int64)
    if len(dictionary) == 0:
        return out
    strings = dictionary.cast(pa.string())
    filled = pc.utf8_upper(pc.utf8_trim(pc.fill_null(strings, ""), " \t\n\r\x0b\x0c"))
    shaped = pc.match_substring_regex(filled, TIME_SHAPE).to_numpy(zero_copy_only=False)
    zoned = pc.match_substring_regex(filled, _ZONED_RE).to_numpy(zero_copy_only=False)
    for group_mask, is_zoned in ((zoned & shaped, True), (~zoned & shaped, False)):
        if group_mask.any():
            out[group_mask] = _cast_group(pc.filter(filled, pa.array(group_mask)), is_zoned)
    return out
