"""Deterministic sample values: a value is a pure function of (point, sample time).

Nothing is random at run time: noise comes from a splitmix64 hash of the point's seed and
the sample's time in microseconds, so the same request always gets the same bytes, and a
sample re-sent on another page carries the same value.
"""

from __future__ import annotations

import zlib

import numpy as np

# Kind codes (small ints so a page's kinds can be masked in numpy).
ANALOG, SETPOINT, METER, BINARY, ACTIVE, ONOFF, MULTISTATE = range(7)
KIND_CODES = {"analog": ANALOG, "setpoint": SETPOINT, "meter": METER, "binary": BINARY,
              "active": ACTIVE, "onoff": ONOFF, "multistate": MULTISTATE}
WORDS = {BINARY: ("false", "true"), ACTIVE: ("inactive", "active"), ONOFF: ("off", "on")}

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
EPOCH_2020_US = 1_577_836_800_000_000  # meters count from 2020-01-01 so values stay BMS-sized
LOCAL_OFFSET_H = -5  # the demo buildings keep US Central-ish hours for their schedules

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def stable_seed(text: str) -> int:
    """A seed that does not change between processes (unlike hash())."""
    return (zlib.crc32(text.encode()) << 32) | zlib.adler32(text.encode())


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on a uint64 array (wrapping arithmetic is the point)."""
    x = np.asarray(x, dtype=np.uint64) + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def hash2(a, b) -> np.ndarray:
    """Hash of two integer arrays (broadcast), uint64."""
    a = np.asarray(a).astype(np.uint64, copy=False)
    b = np.asarray(b).astype(np.int64, copy=False).view(np.uint64)
    return mix(mix(a) ^ b)


def unit(h: np.ndarray) -> np.ndarray:
    """uint64 hash -> float in [0, 1)."""
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def occupied(t_us: np.ndarray) -> np.ndarray:
    """Weekdays 06:00-19:00 local: when fans run and zones are occupied."""
    local = t_us + LOCAL_OFFSET_H * US_PER_HOUR
    hour = (local % US_PER_DAY) / US_PER_HOUR
    weekday = ((local // US_PER_DAY) + 3) % 7  # 1970-01-01 was a Thursday (3)
    return (weekday < 5) & (hour >= 6.0) & (hour < 19.0)


class PointParams:
    """Per-point signal parameters as numpy arrays, indexed by point index."""

    def __init__(self, specs, seeds):
        n = len(specs)
        self.kind = np.array([KIND_CODES[s.kind] for s in specs], dtype=np.int8)
        self.seed = np.array(seeds, dtype=np.uint64)
        self.base = np.array([s.base for s in specs], dtype=np.float64)
        self.amp = np.array([s.amp for s in specs], dtype=np.float64)
        self.noise = np.array([s.noise for s in specs], dtype=np.float64)
        self.decimals = np.array([s.decimals for s in specs], dtype=np.int8)
        self.lo = np.array([s.lo for s in specs], dtype=np.float64)
        self.hi = np.array([s.hi for s in specs], dtype=np.float64)
        self.phase_h = np.array([s.phase_h for s in specs], dtype=np.float64)
        self.null_ppm = np.array([s.null_ppm for s in specs], dtype=np.int64)
        self.nan_ppm = np.array([s.nan_ppm for s in specs], dtype=np.int64)
        self.n = n
        # Value faults (bv_sim.point_faults), set by Site: point index -> [(fault, text or None)].
        self.faults: dict[int, list] = {}


def _analog(p: PointParams, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    hour = (t % US_PER_DAY) / US_PER_HOUR
    day = t // US_PER_DAY
    cycle = np.sin(2 * np.pi * (hour - 9.0 - p.phase_h[idx]) / 24.0)
    drift = 0.3 * np.sin(2 * np.pi * day / 7.0 + p.phase_h[idx])  # day-to-day weather-like drift
    h = hash2(p.seed[idx], t)
    tri = unit(h) + unit(mix(h)) - 1.0  # triangular noise in (-1, 1)
    x = p.base[idx] + p.amp[idx] * (cycle + drift) + p.noise[idx] * tri
    return np.clip(x, p.lo[idx], p.hi[idx])


def _meter(p: PointParams, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    # Integral of rate*(1 + 0.5 sin(...)): its derivative never goes below rate/2, so the
    # totalizer is monotonic; `amp` is the mean rate per hour.
    hours = (t - EPOCH_2020_US) / US_PER_HOUR
    rate = p.amp[idx]
    return p.base[idx] + rate * hours - rate * 0.5 * (24 / (2 * np.pi)) * np.cos(2 * np.pi * (hours - 9.0) / 24.0)


def _bits(p: PointParams, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    # base 1: follows the occupancy schedule (noise = chance of the opposite state);
    # base 0: an alarm-like point that is true with probability `noise`.
    u = unit(hash2(p.seed[idx] ^ np.uint64(0xB17), t))
    follows = p.base[idx] >= 0.5
    sched = occupied(t)
    flip = u < p.noise[idx]
    return np.where(follows, sched ^ flip, flip)


def format_numbers(x: np.ndarray, decimals: np.ndarray) -> list[str]:
    """Round like a BMS does and print the shortest repr ("71.0", "-24.8571", "1445.0")."""
    out = np.empty(len(x), dtype=object)
    for d in np.unique(decimals):
        m = decimals == d
        scale = 10.0 ** int(d)
        # rint(x*10^d)/10^d is the double nearest the decimal, so repr() prints it short.
        r = np.rint(x[m] * scale) / scale + 0.0  # + 0.0 turns -0.0 into 0.0
        out[m] = list(map(repr, r.tolist()))
    return out.tolist()


def values(p: PointParams, idx: np.ndarray, t: np.ndarray) -> list:
    """Value strings (or None) of samples (point index, time µs), in the given order."""
    n = len(idx)
    out = np.empty(n, dtype=object)
    kinds = p.kind[idx]
    for code in np.unique(kinds):
        m = kinds == code
        i, tt = idx[m], t[m]
        if code == ANALOG:
            out[m] = format_numbers(_analog(p, i, tt), p.decimals[i])
        elif code == SETPOINT:
            out[m] = format_numbers(p.base[i], p.decimals[i])
        elif code == METER:
            out[m] = format_numbers(_meter(p, i, tt), p.decimals[i])
        elif code == MULTISTATE:
            state = 1 + occupied(tt).astype(np.int64) + (unit(hash2(p.seed[i], tt)) < p.noise[i])
            out[m] = state.astype(str).astype(object)
        else:
            words = np.array(WORDS[int(code)], dtype=object)
            out[m] = words[_bits(p, i, tt).astype(np.int64)]
    # Rare gaps: a null value, and a "nan" string, as real controllers sometimes report.
    r = (hash2(p.seed[idx] ^ np.uint64(0x5EED), t) % np.uint64(1_000_000)).astype(np.int64)
    out[r < p.null_ppm[idx]] = None
    nan = (r >= 999_999 - p.nan_ppm[idx]) & (r < 999_999)
    out[nan] = "nan"
    if p.faults:
        apply_faults(p, idx, t, out)
    return out.tolist()


def fault_text(p: PointParams, i: int, value: float) -> str:
    """A value as point i prints it (a word for binary kinds)."""
    code = int(p.kind[i])
    if code in WORDS:
        return WORDS[code][int(bool(value))]
    if code == MULTISTATE:
        return str(int(value))
    return format_numbers(np.array([float(value)]), p.decimals[[i]])[0]


def apply_faults(p: PointParams, idx: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
    """Stuck and out-of-range windows send their fixed text; a spiked slot adds `size`.

    p.faults: point index -> [(fault, payload)], payload the fixed text (stuck, out_of_range)
    or (slot µs, slot numbers) of the samples to spike."""
    for i, faults in p.faults.items():
        mine = idx == i
        if not mine.any():
            continue
        for fault, payload in faults:
            if fault.kind in ("stuck", "out_of_range"):
                out[mine & (t >= fault.start_us) & (t < fault.end_us)] = payload
            elif fault.kind == "spikes":
                slot_us, slots = payload
                for k in np.flatnonzero(mine & np.isin(t // slot_us, slots)).tolist():
                    try:
                        x = float(out[k])
                    except (TypeError, ValueError):
                        continue  # null, "nan" or a word: nothing to spike
                    if np.isfinite(x):
                        out[k] = fault_text(p, i, x + fault.size)
