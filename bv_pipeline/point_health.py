"""point_health: how each collect-enabled point of a site behaved during one archived UTC day.
(The rules, pure: arrays in, a table out; reading and writing files is bv_pipeline.health_store.
Over 400 lines because this docstring is the rule book the tests' oracle follows.)

    result = health_store.build_point_health(storage, "demo_office", date(2025, 6, 3), params=HealthParams())
    # -> health/site=demo_office/date=2025-06-03/points.parquet, one row per catalog point

Everything is computed from the archive file (plus the point catalog it was built from and
the site's previous health files), vectorized with numpy over the whole day: the archive is
sorted by point then time, so every per-point figure is a segment reduction. A reference
site-day (4,583 points x 1 min, 6.6 M samples) takes 2-3 s and about 650 MB on this 2-core machine
(benchmarks/point_health_bench.py).

The findings, per point (times are UTC; "N h" settings come from `HealthParams`):

samples / expected
    An *interval* point (catalog `collect_interval` > 0 and a median spacing of its samples of
    at most 1.5 x that interval) expects 86400 / collect_interval samples; fewer than
    `min_completeness` (90 %) of them is a finding. A *change-of-value* point (no interval, or
    samples spaced irregularly, i.e. median spacing above 1.5 x the interval; with fewer than
    3 samples the mode of its latest health file is kept) is judged by its own history: it
    expects the median daily count of the site's previous (up to `history_days` = 7) stored
    health files, and fewer than `cov_min_ratio` (50 %) of that is a finding. A COV point
    without history has `expected` null and is not judged on count.
longest gap / stale
    The longest time without a sample, the day's edges included (00:00 to the first sample,
    the last sample to 24:00): a dead point has 86400 s. Stale: a gap of at least
    `stale_hours`, at the end of the day or anywhere. A COV point is judged stale only when
    its history says it usually reports at least 4 times in that many hours.
flatline
    The longest run of an unchanged value (first to last sample of the run) on an analog point
    is at least `flatline_hours`. Setpoints (marker tag `sp`/`setpoint`, or the word
    setpoint / set point / stpt in the name or BACnet object name; a bare "SP" is not enough,
    it often means static pressure) are analog but are configuration, constant by design, and
    are not judged on flatline.
out of range
    The number of samples outside the plausible range of the point's unit (`UNIT_RANGES`
    below; analog points only; a unit not in the table is not judged).
spikes
    First differences d_i = v_i - v_(i-1) of an analog point get a robust z-score
    z = (d - median(d)) / scale, scale = 1.4826 x MAD(d), but at least the point's smallest
    non-zero step (one quantum of the BMS's rounding) so a one-digit flicker never counts.
    A spike is a sample that jumps away from the one before and back to the one after:
    |z| > `spike_z` on both sides with opposite signs. A step (a value that jumps and stays)
    is not a spike; a level outside the unit's range is caught as out of range instead.

analog / discrete
    By BACnet object type when the catalog has one (binary*, multiState* are discrete); else a
    point with a unit is analog; else by the day's value set: values that are all 0/1, or
    2..8 distinct integers within 0..255, are discrete. Discrete points are judged on count
    and gaps only.

status
    dead: no sample in the day (reason "no samples"); degraded: any finding above, the reason
    lists them joined by "; "; ok: none (reason ""). `severity` orders the worst first.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa

from bv_store.schemas import HEALTH_SCHEMA

DAY_S = 86_400
US = 1_000_000
DAY_US = DAY_S * US
IRREGULAR_FACTOR = 1.5  # median spacing above this many intervals: sampled by change of value
COV_STALE_MIN_SAMPLES = 4  # a COV point is judged stale only if it usually reports this often per stale window
MAD_TO_SIGMA = 1.4826
MEDIAN_BLOCK = 1 << 20  # values per stacked median call (memory bound, not speed)

# Plausible ranges per unit. Keys are unit names normalized by `unit_key` (BACnet engineering
# unit names as ACE reports them, or the usual symbols a kv tag may carry).
#   °F -40..200 and °C -40..95: HVAC air and hot-water sensors (a boiler loop stays below 200 °F)
#   % and %RH 0..100; flows (cfm, gpm, l/s, m³/h) never negative; kWh totalizers never negative;
#   ppm (CO2 and the like) 0..10000.
#   kW is deliberately not in the table: net power is negative while on-site generation
#   (PV, CHP) exports, so a negative kW is not a fault by itself.
UNIT_RANGES: dict[str, tuple[float, float, str]] = {
    "degreesfahrenheit": (-40.0, 200.0, "°F"),
    "degreescelsius": (-40.0, 95.0, "°C"),
    "percent": (0.0, 100.0, "%"),
    "percentrelativehumidity": (0.0, 100.0, "%RH"),
    "cubicfeetperminute": (0.0, math.inf, "cfm"),
    "gallonsperminute": (0.0, math.inf, "gpm"),
    "literspersecond": (0.0, math.inf, "l/s"),
    "cubicmetersperhour": (0.0, math.inf, "m³/h"),
    "kilowatthours": (0.0, math.inf, "kWh"),
    "partspermillion": (0.0, 10_000.0, "ppm"),
}
UNIT_ALIASES = {
    "°f": "degreesfahrenheit", "degf": "degreesfahrenheit", "fahrenheit": "degreesfahrenheit",
    "°c": "degreescelsius", "degc": "degreescelsius", "celsius": "degreescelsius",
    "%": "percent", "%rh": "percentrelativehumidity", "rh": "percentrelativehumidity",
    "cfm": "cubicfeetperminute", "gpm": "gallonsperminute", "l/s": "literspersecond",
    "m³/h": "cubicmetersperhour", "m3/h": "cubicmetersperhour", "kwh": "kilowatthours", "ppm": "partspermillion",
}

# Severity weights: `severity` is their sum (dead alone is above any sum of the others).
W_DEAD, W_STALE, W_FLATLINE, W_RANGE, W_COUNT, W_SPIKES = 1000, 300, 200, 150, 100, 50

# A bare "SP" is not enough in a name: it is as often static pressure (Duct SP) as setpoint.
_SETPOINT_WORDS = re.compile(r"(?<![a-z0-9])(setpoint|set point|stpt)(?![a-z0-9])", re.IGNORECASE)
_DISCRETE_TYPES = ("binary", "multistate")


class HealthError(RuntimeError):
    """point_health could not be computed; the message names the site and day."""


@dataclass(frozen=True)
class HealthParams:
    stale_hours: float = 6.0
    flatline_hours: float = 6.0
    spike_z: float = 8.0
    min_completeness: float = 0.9  # interval points: fewer than this share of expected samples is a finding
    cov_min_ratio: float = 0.5  # COV points: fewer than this share of their usual daily count is a finding
    history_days: int = 7  # previous stored health files a COV point is judged against


def unit_key(unit: str | None) -> str | None:
    if not unit:
        return None
    text = unit.strip().lower()
    text = UNIT_ALIASES.get(text, text)
    return text.replace(" ", "").replace("_", "")


def unit_range(unit: str | None) -> tuple[float, float, str] | None:
    return UNIT_RANGES.get(unit_key(unit) or "")


@dataclass
class PointsInfo:
    """What the computation needs of the catalog, as arrays in catalog (sorted name) order."""

    names: list[str]
    interval_s: np.ndarray  # int64, 0 = none
    units: list[str | None]
    object_types: list[str | None]
    setpoint: np.ndarray  # bool

    @classmethod
    def from_catalog(cls, catalog: pa.Table) -> "PointsInfo":
        rows = catalog.to_pylist()
        rows = [r for r in rows if r.get("collect_enabled") is not False and r.get("name")]
        rows.sort(key=lambda r: r["name"])
        seen, unique = set(), []
        for r in rows:
            if r["name"] not in seen:
                seen.add(r["name"])
                unique.append(r)
        return cls(
            names=[r["name"] for r in unique],
            interval_s=np.array([int(r.get("collect_interval") or 0) for r in unique], dtype=np.int64),
            units=[r.get("unit") for r in unique],
            object_types=[r.get("bacnet_object_type") for r in unique],
            setpoint=np.array([is_setpoint(r) for r in unique], dtype=bool),
        )


def is_setpoint(row: dict) -> bool:
    tags = {str(t).lower() for t in (row.get("marker_tags") or [])}
    if tags & {"sp", "setpoint"}:
        return True
    text = " ".join(str(row.get(k) or "") for k in ("name", "bacnet_object_name"))
    return bool(_SETPOINT_WORDS.search(text))


@dataclass
class History:
    """Per point (catalog order): median daily samples over the previous health files
    (NaN: no history), and the mode recorded by the latest one ("" if none)."""

    median_samples: np.ndarray
    last_mode: list[str]
    days: list[str] = field(default_factory=list)

    @classmethod
    def empty(cls, n: int) -> "History":
        return cls(np.full(n, np.nan), [""] * n, [])


# --- the computation -----------------------------------------------------------------

def _segment_reduce(ufunc, values: np.ndarray, starts: np.ndarray, present: np.ndarray, fill) -> np.ndarray:
    """ufunc.reduceat over the non-empty segments `starts[present]`; `fill` for the empty ones."""
    out = np.full(len(present), fill, dtype=np.result_type(values.dtype, type(fill)))
    if present.any():
        out[present] = ufunc.reduceat(values, starts[:-1][present])
    return out


def _group_median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of each contiguous group of `values` (group g is the next counts[g] values);
    NaN for empty groups. Groups of one length are stacked and partitioned together, so this
    is O(n) (no sort), one numpy call per distinct group length."""
    starts = np.concatenate(([0], np.cumsum(counts)))[:-1]
    out = np.full(len(counts), np.nan)
    for length in np.unique(counts):
        if length == 0:
            continue
        groups = np.flatnonzero(counts == length)
        step = max(1, MEDIAN_BLOCK // int(length))  # bounded temporaries: about MEDIAN_BLOCK values at a time
        for k in range(0, len(groups), step):
            block = groups[k:k + step]
            out[block] = np.median(values[starts[block][:, None] + np.arange(length)], axis=1)
    return out


def _hhmm(us: int, day_start_us: int) -> str:
    seconds = int((us - day_start_us) // US)
    if seconds >= DAY_S:
        return "24:00"
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _fmt_value(v: float) -> str:
    return f"{v:.6g}"


def compute_health(
    info: PointsInfo,
    point_idx: np.ndarray,
    ts_us: np.ndarray,
    values: np.ndarray,
    day: date,
    *,
    params: HealthParams = HealthParams(),
    history: History | None = None,
) -> pa.Table:
    """The health table of one site-day. `point_idx` (catalog index per sample), `ts_us`
    (µs since the epoch) and `values` are the day's samples, sorted by (point, ts)."""
    n_points = len(info.names)
    history = history or History.empty(n_points)
    day_start = int(np.datetime64(day, "us").astype(np.int64))
    day_end = day_start + DAY_US
    gid = np.asarray(point_idx, dtype=np.int64)
    ts = np.asarray(ts_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    n = len(gid)
    if n and (np.any(np.diff(gid) < 0) or np.any((np.diff(ts) <= 0) & (np.diff(gid) == 0))):
        order = np.lexsort((ts, gid))
        gid, ts, v = gid[order], ts[order], v[order]

    counts = np.bincount(gid, minlength=n_points).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)))
    present = counts > 0
    first_row = starts[:-1]
    last_row = starts[1:] - 1

    # Gaps: into each sample from the one before (from 00:00 for a point's first sample).
    new_group = np.ones(n, dtype=bool)
    if n > 1:
        new_group[1:] = gid[1:] != gid[:-1]
    prev_ts = np.empty(n, dtype=np.int64)
    if n:
        prev_ts[0] = day_start
        prev_ts[1:] = ts[:-1]
    prev_ts[new_group] = day_start
    gap_in = ts - prev_ts
    del prev_ts
    max_gap_in = _segment_reduce(np.maximum, gap_in, starts, present, 0)
    first_ts = np.zeros(n_points, dtype=np.int64)
    last_ts = np.zeros(n_points, dtype=np.int64)
    first_ts[present] = ts[first_row[present]]
    last_ts[present] = ts[last_row[present]]
    trailing = np.where(present, day_end - last_ts, DAY_US)
    longest_gap_us = np.where(present, np.maximum(max_gap_in, trailing), DAY_US)
    # Where the longest inner (or leading) gap ends: the first sample whose gap_in is the max.
    gap_end_row = np.full(n_points, -1, dtype=np.int64)
    if n:
        hit = np.flatnonzero(gap_in == np.repeat(max_gap_in, counts))
        g_hit, first_hit = np.unique(gid[hit], return_index=True)
        gap_end_row[g_hit] = hit[first_hit]
        del hit

    # Median spacing (for regular vs change-of-value sampling).
    inner = ~new_group
    spacing = gap_in[inner].astype(np.float64)
    del gap_in
    med_spacing = _group_median(spacing, np.maximum(counts - 1, 0))
    del spacing

    vmin = _segment_reduce(np.minimum, v, starts, present, np.nan) if n else np.full(n_points, np.nan)
    vmax = _segment_reduce(np.maximum, v, starts, present, np.nan) if n else np.full(n_points, np.nan)

    # Kind: BACnet type, else unit, else the value set.
    kind_analog = np.ones(n_points, dtype=bool)
    undecided = []
    for i in range(n_points):
        otype = (info.object_types[i] or "").strip().lower()
        if otype:
            kind_analog[i] = not otype.startswith(_DISCRETE_TYPES)
        elif unit_key(info.units[i]) not in (None, "", "nounits"):
            kind_analog[i] = True
        elif present[i] and vmin[i] >= 0 and vmax[i] <= 255:
            undecided.append(i)
    if undecided:
        integral = np.bincount(gid, weights=(v != np.floor(v)).astype(np.float64), minlength=n_points) == 0
        for i in undecided:
            if not integral[i]:
                continue
            if vmax[i] <= 1:
                kind_analog[i] = False  # only 0 / 1
                continue
            distinct = len(np.unique(v[starts[i]:starts[i + 1]]))
            kind_analog[i] = not (2 <= distinct <= 8)

    # Flatline: runs of an unchanged value, first to last sample of the run.
    changed = new_group.copy()
    if n > 1:
        changed[1:] |= v[1:] != v[:-1]
    run_start = np.flatnonzero(changed)
    run_end = np.append(run_start[1:], n) - 1
    run_len_us = ts[run_end] - ts[run_start] if n else np.empty(0, np.int64)
    del changed, run_end
    run_gid = gid[run_start] if n else np.empty(0, np.int64)
    runs_per_group = np.bincount(run_gid, minlength=n_points)
    run_starts = np.concatenate(([0], np.cumsum(runs_per_group)))
    longest_flat_us = _segment_reduce(np.maximum, run_len_us, run_starts, present, 0) if n else np.zeros(n_points, np.int64)
    flat_run = np.full(n_points, -1, dtype=np.int64)
    if n:
        hit = np.flatnonzero(run_len_us == np.repeat(longest_flat_us, runs_per_group))
        g_hit, first_hit = np.unique(run_gid[hit], return_index=True)
        flat_run[g_hit] = hit[first_hit]
        del hit
    del run_len_us, run_gid

    # Out of range, by unit (analog points only).
    lo = np.full(n_points, -np.inf)
    hi = np.full(n_points, np.inf)
    ranged = np.zeros(n_points, dtype=bool)
    for i, unit in enumerate(info.units):
        r = unit_range(unit)
        if r is not None and kind_analog[i]:
            lo[i], hi[i], ranged[i] = r[0], r[1], True
    out_of_range = np.zeros(n_points, dtype=np.int64)
    if n and ranged.any():
        outside = (v < lo[gid]) | (v > hi[gid])
        out_of_range = np.bincount(gid[outside], minlength=n_points).astype(np.int64)
        del outside

    # Spikes: robust z of first differences, a sample that jumps out and straight back.
    spikes = np.zeros(n_points, dtype=np.int64)
    diff_rows = np.flatnonzero(inner & kind_analog[gid]) if n else np.empty(0, np.int64)
    if len(diff_rows):
        d = v[diff_rows] - v[diff_rows - 1]
        dg = gid[diff_rows]
        per_point = np.bincount(dg, minlength=n_points)
        med_d = _group_median(d, per_point)
        dev = d - med_d[dg]
        mad = _group_median(np.abs(dev), per_point)
        # The smallest non-zero step per point (diff rows are grouped by point: segment minima).
        seg = np.concatenate(([0], np.cumsum(per_point)))
        absd = np.abs(d)
        step = _segment_reduce(np.minimum, np.where(absd > 0, absd, np.inf), seg, per_point > 0, np.inf)
        del absd, d
        scale = np.maximum(MAD_TO_SIGMA * np.nan_to_num(mad), np.where(np.isfinite(step), step, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = dev / scale[dg]
        del dev
        flag = (scale[dg] > 0) & (np.abs(z) > params.spike_z)
        # diff k is the jump into row diff_rows[k]; diff k+1 the jump out of it (same point).
        if len(z) > 1:
            both = flag[:-1] & flag[1:] & (diff_rows[1:] == diff_rows[:-1] + 1) & (dg[1:] == dg[:-1])
            both &= np.sign(z[:-1]) != np.sign(z[1:])
            spikes = np.bincount(dg[:-1][both], minlength=n_points).astype(np.int64)

    return _decide(info, day, day_start, params, history, counts, present, first_ts, last_ts, longest_gap_us,
                   trailing, max_gap_in, gap_end_row, ts, med_spacing, kind_analog, longest_flat_us, flat_run,
                   run_start, v, out_of_range, lo, hi, spikes, vmin, vmax)


def _decide(info, day, day_start, params, history, counts, present, first_ts, last_ts, longest_gap_us, trailing,
            max_gap_in, gap_end_row, ts, med_spacing, kind_analog, longest_flat_us, flat_run, run_start, v,
            out_of_range, lo, hi, spikes, vmin, vmax) -> pa.Table:
    n_points = len(info.names)
    stale_us = params.stale_hours * 3600 * US
    flat_us = params.flatline_hours * 3600 * US
    statuses, reasons, severities, expecteds, modes, stales, flats = [], [], [], [], [], [], []
    # Plain lists: the loop below touches each point once, and numpy scalars are slow there.
    counts_l, interval_l, spacing_l = counts.tolist(), info.interval_s.tolist(), med_spacing.tolist()
    usual_l, gap_l, trailing_l, inner_l = (history.median_samples.tolist(), longest_gap_us.tolist(),
                                           trailing.tolist(), max_gap_in.tolist())
    analog_l, setpoint_l, flat_l = kind_analog.tolist(), info.setpoint.tolist(), longest_flat_us.tolist()
    range_l, spikes_l = out_of_range.tolist(), spikes.tolist()
    for i in range(n_points):
        samples = counts_l[i]
        interval = interval_l[i]
        # Sampling mode: regular at the catalog interval, or change of value.
        if interval <= 0:
            mode = "cov"
        elif samples >= 3:
            mode = "cov" if spacing_l[i] > IRREGULAR_FACTOR * interval * US else "interval"
        else:
            mode = history.last_mode[i] or "interval"
        usual = usual_l[i]
        if mode == "interval":
            expected = int(round(DAY_S / interval))
        else:
            expected = int(round(usual)) if not math.isnan(usual) else None
        findings: list[tuple[int, str]] = []
        if samples == 0:
            status, reason, severity = "dead", "no samples", W_DEAD
            stale, flat = True, False
        else:
            if mode == "interval" and samples < params.min_completeness * expected:
                findings.append((W_COUNT, f"{samples} of {expected} expected samples ({100 * samples / expected:.0f}%)"))
            if mode == "cov" and expected is not None and samples < params.cov_min_ratio * expected:
                findings.append((W_COUNT, f"{samples} samples, usually {expected} (change of value)"))
            judged_stale = mode == "interval" or (
                expected is not None and expected * params.stale_hours / 24 >= COV_STALE_MIN_SAMPLES)
            stale = bool(judged_stale and gap_l[i] >= stale_us)
            if stale:
                if trailing_l[i] >= inner_l[i]:
                    text = (f"no sample since {_hhmm(last_ts[i], day_start)} UTC "
                            f"({trailing_l[i] / 3.6e9:.1f} h to the end of the day)")
                elif gap_end_row[i] >= 0 and ts[gap_end_row[i]] - inner_l[i] == day_start:
                    text = f"no sample until {_hhmm(first_ts[i], day_start)} UTC ({inner_l[i] / 3.6e9:.1f} h)"
                else:
                    end = int(ts[gap_end_row[i]])
                    text = (f"no sample for {inner_l[i] / 3.6e9:.1f} h "
                            f"({_hhmm(end - inner_l[i], day_start)}–{_hhmm(end, day_start)} UTC)")
                findings.append((W_STALE, text))
            flat = bool(analog_l[i] and not setpoint_l[i] and samples >= 2 and flat_l[i] >= flat_us)
            if flat:
                row = run_start[flat_run[i]]
                findings.append((W_FLATLINE, f"unchanged at {_fmt_value(v[row])} for {flat_l[i] / 3.6e9:.1f} h "
                                             f"(from {_hhmm(ts[row], day_start)} UTC)"))
            if range_l[i]:
                symbol = unit_range(info.units[i])[2]
                bounds = f"{_fmt_value(lo[i])}…{_fmt_value(hi[i])}" if np.isfinite(hi[i]) else f"below {_fmt_value(lo[i])}"
                findings.append((W_RANGE, f"{range_l[i]} samples out of range ({bounds} {symbol}; "
                                          f"seen {_fmt_value(vmin[i])}…{_fmt_value(vmax[i])})"))
            if spikes_l[i]:
                findings.append((W_SPIKES, f"{spikes_l[i]} spike{'s' if spikes_l[i] != 1 else ''}"))
            findings.sort(key=lambda f: -f[0])
            status = "degraded" if findings else "ok"
            reason = "; ".join(text for _, text in findings)
            severity = sum(w for w, _ in findings)
        statuses.append(status)
        reasons.append(reason)
        severities.append(severity)
        expecteds.append(expected)
        modes.append(mode)
        stales.append(stale)
        flats.append(flat)

    ts_type = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "point": pa.array(info.names, pa.string()),
            "status": pa.array(statuses, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "severity": pa.array(severities, pa.int32()),
            "samples": pa.array(counts, pa.int64()),
            "expected": pa.array(expecteds, pa.int64()),
            "mode": pa.array(modes, pa.string()),
            "collect_interval": pa.array([int(x) if x > 0 else None for x in info.interval_s], pa.int64()),
            "kind": pa.array(np.where(kind_analog, "analog", "discrete").tolist(), pa.string()),
            "unit": pa.array(info.units, pa.string()),
            "first_ts": pa.array(first_ts, ts_type, mask=~present),
            "last_ts": pa.array(last_ts, ts_type, mask=~present),
            "longest_gap_s": pa.array(longest_gap_us / US, pa.float64()),
            "stale": pa.array(stales, pa.bool_()),
            "flatline": pa.array(flats, pa.bool_()),
            "longest_flat_s": pa.array(longest_flat_us / US, pa.float64()),
            "out_of_range": pa.array(out_of_range, pa.int64()),
            "spikes": pa.array(spikes, pa.int64()),
            "min_value": pa.array(vmin, pa.float64(), mask=~present),
            "max_value": pa.array(vmax, pa.float64(), mask=~present),
        },
        schema=HEALTH_SCHEMA,
    )


# --- storage: inputs, history, the file ----------------------------------------------
