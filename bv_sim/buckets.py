"""5-minute buckets: what `/timeseries/paginated` serves without `raw_data=true`.

Opt-in (`SimServer(serve_buckets=True)`, CLI `--serve-buckets`): by default the simulator
answers such a request 400, so a client that forgets `raw_data=true` fails loudly instead of
archiving aggregates. With buckets on, each (point, 5-minute bucket) that has samples in the
window gives one sample, in the same `{"name", "value", "time"}` shape as raw samples:

- `time`: the bucket start, aligned to the UTC epoch (00:00, 00:05, ...), ISO with
  microseconds and no zone; only samples inside `[start_time, min(end_time, now))` count,
  so the first bucket may be labelled before `start_time`.
- `value`: the mean of the bucket's finite numeric values, printed with the point's
  decimals; a bucket without any (state words) gives its last non-null value; none: null.
- order and paging: (time, point index) like raw samples; the cursor has the raw cursor's
  form (base64 of {"offset": n, "timestamp": T}: skip n buckets labelled >= T); `has_more`
  is true exactly when a page is full.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from bv_sim.signals import format_numbers, values
from bv_sim.timeseries import US, encode_cursor, time_strings

if TYPE_CHECKING:
    from bv_sim.sites import Site

BUCKET_US = 300 * US
_SPAN_BUCKETS = 12  # raw samples are aggregated one hour at a time


def bucket_floor(ts_us: int) -> int:
    return ts_us - ts_us % BUCKET_US


def _aggregate(site: "Site", pid: np.ndarray, t: np.ndarray, span_start: int) -> list[dict]:
    """Bucket rows of the samples (pid, t) of one span, ordered by (bucket, point)."""
    if not len(pid):
        return []
    vals = values(site.params, pid, t)
    n_points = len(site.point_specs)
    key = ((t - span_start) // BUCKET_US) * n_points + pid
    order = np.argsort(key, kind="stable")  # stable: time order inside one (bucket, point)
    key_sorted = key[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    out_pid = (key_sorted[starts] % n_points).astype(np.int64)
    out_t = span_start + (key_sorted[starts] // n_points) * BUCKET_US
    means = np.full(len(starts), np.nan)
    fallback: list = [None] * len(starts)
    for g, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        total, count, last = 0.0, 0, None
        for v in (vals[k] for k in order[a:b].tolist()):
            if v is None:
                continue
            last = v
            try:
                x = float(v)
            except ValueError:
                continue
            if math.isfinite(x):
                total += x
                count += 1
        if count:
            means[g] = total / count
        else:
            fallback[g] = last
    numeric = ~np.isnan(means)
    text = np.empty(len(starts), dtype=object)
    text[:] = fallback
    if numeric.any():
        text[numeric] = format_numbers(means[numeric], site.params.decimals[out_pid[numeric]])
    names = site.names[out_pid].tolist()
    times = time_strings(out_t)
    return [{"name": n, "value": v, "time": tm} for n, v, tm in zip(names, text.tolist(), times)]


def bucket_page(site: "Site", start_us: int, clip_us: int, from_us: int, skip: int,
                page_size: int) -> dict:
    """One page of buckets: those labelled >= from_us (a bucket start), the first `skip` of
    them left out, at most page_size -> the response body."""
    rows: list[dict] = []
    span = from_us
    need = skip + page_size
    while span < clip_us and len(rows) < need:
        span_end = span + _SPAN_BUCKETS * BUCKET_US
        lo, hi = max(span, start_us), min(span_end, clip_us)
        chunks = list(site.iter_chunks(lo, hi)) if lo < hi else []
        if chunks:
            pid = np.concatenate([c[0] for c in chunks]).astype(np.int64)
            t = np.concatenate([c[1] for c in chunks])
            rows.extend(_aggregate(site, pid, t, span))
        span = span_end
    page = rows[skip:need]
    has_more = len(page) == page_size
    cursor = None
    if has_more:
        last_time = page[-1]["time"]
        # offset: how many buckets labelled last_time come before the next page's first one
        first_idx = next(i for i, r in enumerate(rows) if r["time"] == last_time)
        cursor = encode_cursor(need - first_idx, int(np.datetime64(last_time, "us").astype(np.int64)))
    return {"point_samples": page, "next_cursor": cursor, "has_more": has_more}
