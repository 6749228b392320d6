"""Scrape schedule, time blocks and cursor paging of a site's sample stream.

A site's samples form one stream ordered by (time, point index). The stream is cut into
fixed time blocks (about 40-60 k samples each) that are computed on demand with numpy
and kept in a small LRU cache, so serving a page costs one or two blocks, never a day.

Window rule (the simulator's choice for the contract's ASSUMED line): a window
[start_time, end_time) includes start and excludes end, and is further clipped to the
simulator clock: only samples with time < clock.now() exist yet.

Cursor: base64 of JSON {"offset": n, "timestamp": T}; it means "skip n samples whose time
is >= T, then continue". A normal page's cursor names the time of its last sample; an
injected empty page hands out an equivalent cursor anchored elsewhere (block or window
start): same position, but not the string the client sent (so it is not a server loop).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import orjson

from bv_sim.point_faults import drop_dead
from bv_sim.signals import hash2, stable_seed

US = 1_000_000
BLOCK_CHOICES_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400)
TARGET_BLOCK_SAMPLES = 60_000
COV_SLOT_US = 1200 * US  # change-of-value points report 0-2 times per 20 minutes


class CursorError(ValueError):
    """A cursor this server did not make (garbled, or for another window)."""


@dataclass
class _IntervalClass:
    interval_us: int
    phase_us: np.ndarray   # (G,) per scrape group
    jitter_us: np.ndarray  # (G,) > 0
    gseed: np.ndarray      # (G,) uint64
    pidx: np.ndarray       # (P,) point indices in this class
    pgroup: np.ndarray     # (P,) local group index of each point


class Schedule:
    """When each point is sampled: scrape groups (one device + interval share one time per
    scrape, with a few ms - 2 s of jitter) and change-of-value points at irregular times."""

    def __init__(self, site_seed: int, points: list[tuple[str, int, bool]],
                 dead: dict[int, list[tuple[int, int]]] | None = None):
        # points: (scrape group key, interval_s, cov) per point index; dead: point index ->
        # [start µs, end µs) windows whose samples do not exist (bv_sim.point_faults)
        self.dead = dead or {}
        groups: dict[tuple[str, int], list[int]] = {}
        cov = []
        for i, (key, interval_s, is_cov) in enumerate(points):
            if is_cov:
                cov.append(i)
            else:
                groups.setdefault((key, int(interval_s)), []).append(i)
        by_interval: dict[int, list[tuple[str, list[int]]]] = {}
        for (key, interval_s), members in groups.items():
            by_interval.setdefault(interval_s, []).append((key, members))
        self.classes: list[_IntervalClass] = []
        rate = 0.0
        for interval_s, glist in sorted(by_interval.items()):
            iv = interval_s * US
            gseed = np.array([stable_seed(f"{site_seed}:{k}:{interval_s}") for k, _ in glist], dtype=np.uint64)
            h = hash2(gseed, np.arange(len(glist)))
            # jitter 5 ms .. 2 s (at most a quarter interval); phase + jitter < interval keeps
            # exactly one scrape per group per interval slot.
            jitter = np.minimum(5_000 + (h % np.uint64(1_995_000)).astype(np.int64), iv // 4)
            phase = (hash2(h, 1) % (iv - jitter).astype(np.uint64)).astype(np.int64)
            pidx = np.concatenate([np.array(m, dtype=np.int64) for _, m in glist])
            pgroup = np.concatenate([np.full(len(m), g, dtype=np.int64) for g, (_, m) in enumerate(glist)])
            self.classes.append(_IntervalClass(iv, phase, jitter, gseed, pidx, pgroup))
            rate += len(pidx) / interval_s
        self.cov_pidx = np.array(cov, dtype=np.int64)
        self.cov_seed = np.array([stable_seed(f"{site_seed}:cov:{i}") for i in cov], dtype=np.uint64)
        rate += len(cov) * 1.0 / (COV_SLOT_US / US)
        fitting = [b for b in BLOCK_CHOICES_S if rate * b <= TARGET_BLOCK_SAMPLES]
        self.block_us = (fitting[-1] if fitting else BLOCK_CHOICES_S[0]) * US

    def block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """(point index int32, time µs int64) of block b, sorted by (time, point)."""
        b0 = b * self.block_us
        b1 = b0 + self.block_us
        pids, times = [], []
        for c in self.classes:
            iv = c.interval_us
            ks = np.arange(b0 // iv, (b1 - 1) // iv + 1, dtype=np.int64)
            jit = (hash2(c.gseed[:, None], ks[None, :]) % c.jitter_us[:, None].astype(np.uint64)).astype(np.int64)
            scrape = ks[None, :] * iv + c.phase_us[:, None] + jit  # (G, K)
            t = scrape[c.pgroup]  # (P, K)
            m = (t >= b0) & (t < b1)
            times.append(t[m])
            pids.append(np.broadcast_to(c.pidx[:, None], t.shape)[m])
        if len(self.cov_pidx):
            half = COV_SLOT_US // 2
            slots = np.arange(b0 // COV_SLOT_US, (b1 - 1) // COV_SLOT_US + 1, dtype=np.int64)
            count = (hash2(self.cov_seed[:, None] ^ np.uint64(7), slots[None, :]) % np.uint64(3)).astype(np.int64)
            for j in (0, 1):
                off = (hash2(self.cov_seed[:, None] ^ np.uint64(j + 11), slots[None, :]) % np.uint64(half)).astype(np.int64)
                t = slots[None, :] * COV_SLOT_US + j * half + off
                m = (count > j) & (t >= b0) & (t < b1)
                times.append(t[m])
                pids.append(np.broadcast_to(self.cov_pidx[:, None], t.shape)[m])
        t = np.concatenate(times) if times else np.empty(0, np.int64)
        p = np.concatenate(pids) if pids else np.empty(0, np.int64)
        order = np.lexsort((p, t))
        p, t = p[order].astype(np.int32), t[order]
        if self.dead:
            p, t = drop_dead(p, t, self.dead)
        return p, t


class Pager:
    """Positions in the sample stream are (block, index); blocks come from an LRU cache."""

    def __init__(self, schedule: Schedule, cache_blocks: int = 24):
        self.schedule = schedule
        self.B = schedule.block_us
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._size = cache_blocks
        self._lock = threading.Lock()

    def block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            hit = self._cache.get(b)
            if hit is not None:
                self._cache.move_to_end(b)
                return hit
        value = self.schedule.block(b)  # computed outside the lock; a race only wastes work
        with self._lock:
            self._cache[b] = value
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return value

    def first_pos(self, start_us: int) -> tuple[int, int]:
        b = start_us // self.B
        return b, int(np.searchsorted(self.block(b)[1], start_us, "left"))

    def cursor_pos(self, ts_us: int, offset: int) -> tuple[int, int]:
        b = ts_us // self.B
        return b, int(np.searchsorted(self.block(b)[1], ts_us, "left")) + offset

    def take(self, pos: tuple[int, int], n: int, end_us: int):
        """Up to n samples from pos with time < end_us -> (pid, t, last, end_pos).

        `last` is (block, index) of the last sample taken (None if none)."""
        b, i = pos
        pieces_p, pieces_t = [], []
        last = None
        need = n
        while need > 0 and b * self.B < end_us:
            p, t = self.block(b)
            if i >= len(t):
                if (b + 1) * self.B >= end_us:
                    break
                i -= len(t)
                b += 1
                continue
            hi = len(t) if (b + 1) * self.B <= end_us else int(np.searchsorted(t, end_us, "left"))
            if i >= hi:
                break
            j = min(hi, i + need)
            pieces_p.append(p[i:j])
            pieces_t.append(t[i:j])
            need -= j - i
            last = (b, j - 1)
            i = j
        if pieces_t:
            pid, tt = np.concatenate(pieces_p), np.concatenate(pieces_t)
        else:
            pid, tt = np.empty(0, np.int32), np.empty(0, np.int64)
        return pid, tt, last, (b, i)

    def back(self, pos: tuple[int, int], k: int, floor: tuple[int, int]) -> tuple[int, int]:
        """pos moved k samples back, not before floor."""
        b, i = pos
        while k > 0:
            if i >= k:
                i -= k
                break
            k -= i
            if b <= floor[0]:
                i = 0
                break
            b -= 1
            i = len(self.block(b)[1])
        return max((b, i), floor)

    def cursor_after(self, last: tuple[int, int]) -> str:
        """Cursor for the sample after `last`: (time of last, samples at that time so far)."""
        b, j = last
        t = self.block(b)[1]
        ts = int(t[j])
        first = int(np.searchsorted(t, ts, "left"))
        return encode_cursor(j + 1 - first, ts)

    def equivalent_cursor(self, pos: tuple[int, int], start_us: int, end_us: int, avoid: str | None) -> str | None:
        """A cursor for pos that differs from `avoid` (the one the client sent): anchored at the
        block start (or window start) instead of the last sample's time. None if nothing is left."""
        _, tt, last, _ = self.take(pos, 1, end_us)
        if last is None:
            return None
        b, j = last
        t = self.block(b)[1]
        t_next = int(tt[0])
        lo = max(b * self.B, start_us)
        for anchor in (lo, t_next, max(t_next - 1, lo)):
            cursor = encode_cursor(j - int(np.searchsorted(t, anchor, "left")), anchor)
            if cursor != avoid:
                return cursor
        return cursor


def format_time_us(ts_us: int) -> str:
    return str(np.datetime64(int(ts_us), "us"))


def time_strings(t: np.ndarray) -> list[str]:
    """ISO times with microseconds and no zone, converting each distinct time once."""
    n = len(t)
    if not n:
        return []
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    counts = np.diff(np.r_[starts, n])
    text = np.datetime_as_string(t[starts].astype("datetime64[us]"), unit="us").astype(object)
    return np.repeat(text, counts).tolist()


def encode_cursor(offset: int, ts_us: int) -> str:
    raw = orjson.dumps({"offset": int(offset), "timestamp": format_time_us(ts_us)})
    return base64.b64encode(raw).decode("ascii")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """-> (offset, timestamp µs); CursorError if this server could not have made it."""
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True)
        data = orjson.loads(raw)
        offset = data["offset"]
        ts = datetime.fromisoformat(data["timestamp"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeEncodeError, orjson.JSONDecodeError) as exc:
        raise CursorError("Invalid cursor") from exc
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 or set(data) != {"offset", "timestamp"}:
        raise CursorError("Invalid cursor")
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return offset, to_us(ts)


def to_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds
