"""Cutting a day's ACE window into parts fetched at once: the cuts, and each part keeping
exactly its own side of them whichever way ACE reads window bounds."""

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from bv_pipeline.day_parts import CUT_OVERLAP, split_window, trim_to_part
from bv_store.schemas import RAW_SCHEMA

START = datetime(2025, 6, 2, 23, 59, tzinfo=timezone.utc)
END = datetime(2025, 6, 4, 0, 1, tzinfo=timezone.utc)


def batch(times):
    return pa.RecordBatch.from_arrays(
        [pa.array(["p"] * len(times)), pa.array(["1.0"] * len(times)), pa.array(times, pa.string())],
        schema=RAW_SCHEMA,
    )


def test_one_part_is_the_whole_window_untrimmed():
    (part,) = split_window(START, END, 1)
    assert (part.start, part.end, part.trims) == (START, END, False)


def test_parts_cover_the_window_on_minute_cuts_with_a_second_of_overlap():
    parts = split_window(START, END, 3)
    assert parts[0].start == START and parts[-1].end == END  # outer bounds untouched
    assert parts[0].keep_from is None and parts[-1].keep_until is None
    for left, right in zip(parts, parts[1:]):
        cut = left.keep_until
        assert cut == right.keep_from and cut.second == 0 and cut.microsecond == 0
        assert left.end == cut + CUT_OVERLAP and right.start == cut - CUT_OVERLAP


def test_a_short_window_gets_fewer_parts():
    assert len(split_window(START, START + timedelta(minutes=2), 8)) == 2
    with pytest.raises(ValueError):
        split_window(START, END, 0)


@pytest.mark.parametrize("reading", ["[start, end)", "[start, end]", "(start, end)", "(start, end]"])
def test_a_sample_exactly_at_a_cut_is_kept_once_whatever_the_bounds(reading):
    left, right = split_window(START, END, 2)
    cut = left.keep_until
    at_cut = cut.strftime("%Y-%m-%dT%H:%M:%S.000000")
    near = [(cut - timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f"), at_cut,
            (cut + timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")]

    def served(part):  # what a server reading the bounds this way sends of `near`
        lo_open, hi_closed = reading.startswith("("), reading.endswith("]")
        out = []
        for text in near:
            t = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
            if (t > part.start if lo_open else t >= part.start) and (t <= part.end if hi_closed else t < part.end):
                out.append(text)
        return out

    kept = [t for part in (left, right) for t in trim_to_part(batch(served(part)), part).column("time").to_pylist()]
    assert sorted(kept) == near  # each once, none lost


def test_a_page_inside_its_part_is_passed_through_whole():
    _, middle, _ = split_window(START, END, 3)
    page = batch([(middle.keep_from + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%S.%f") for m in range(5)])
    assert trim_to_part(page, middle) is page


def test_unparseable_times_are_kept_where_they_came():
    left, right = split_window(START, END, 2)
    before_cut = (left.keep_until - timedelta(milliseconds=500)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    page = batch([before_cut, "not a time", before_cut])
    assert trim_to_part(page, right).column("time").to_pylist() == ["not a time"]
    assert trim_to_part(page, left).num_rows == 3


def test_a_sample_far_outside_its_part_is_kept_not_trimmed():
    """ACE may place a sample outside the window asked (clock skew, filtering on receive
    time): only the overlap a neighbour also asked for is trimmed, anything else is kept."""
    first, middle, last = split_window(START, END, 3)
    early = (first.keep_until - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.%f")  # first part's time
    in_overlap = (middle.keep_from - timedelta(milliseconds=300)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    own = (middle.keep_from + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    late = (last.keep_from + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f")  # last part's time
    page = batch([early, in_overlap, own, late])
    assert trim_to_part(page, middle).column("time").to_pylist() == [early, own, late]
