"""A bounded LRU by approximate bytes (`ByteLRU`): decoded point-days from archive files
(`PointDayCache`, the DuckDB path) and one point's decoded columns of one file (the direct
reader's cache).

The direct reader's entries own their memory; the DuckDB path's are slices of one fetched
result, freed once all its slices are evicted, so there the byte cap is approximate.
Archive files are immutable between re-materializations and each is named by (uri, size),
so a cached point-day can never be stale: a rewritten file has a new size or is read
again after the listing refresh. Chart traffic asks for the same recent days over and over
(dashboards, zooms); this turns those repeats from a row-group decode into a dict lookup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict



class ByteLRU:
    """Values with an `nbytes` (Arrow tables, numpy arrays), evicted oldest-first past max_bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key, value) -> None:
        size = value.nbytes + 200  # + the key and bookkeeping
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes + 200
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes + 200

    def stats(self) -> dict:
        with self._lock:
            return {"entries": len(self._items), "bytes": self._bytes, "hits": self.hits, "misses": self.misses}


PointDayCache = ByteLRU  # pa.Table point-days
