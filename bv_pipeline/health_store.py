"""Point health on storage: read a day's archive and history, write and read health files.

The rules themselves are bv_pipeline.point_health (pure: arrays in, a table out).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bv_pipeline.point_health import (
    HealthError,
    HealthParams,
    History,
    PointsInfo,
    compute_health,
)
from bv_store.catalog import CatalogError, read_catalog_table, read_catalog_version
from bv_store.layout import archive_key, health_key, health_site_prefix, parse_health_key
from bv_store.publish import publish
from bv_store.schemas import ARCHIVE_CATALOG_META, HEALTH_PARAMS_META
from bv_store.storage import Storage


def _column(pf: pq.ParquetFile, name: str, dtype) -> np.ndarray:
    """One column as a numpy array (read alone, so only one column is decoded at a time)."""
    chunks = pf.read(columns=[name]).column(name).chunks
    parts = [c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c for c in chunks]
    arrays = [c.to_numpy(zero_copy_only=False) for c in parts]
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.empty(0, dtype)


def read_day_samples(path, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None, int]:
    """(catalog index, ts µs, value) of an archive file's rows whose point is in `names`
    (sorted), its recorded catalog version, and its row count."""
    pf = pq.ParquetFile(path)
    meta = pf.schema_arrow.metadata or {}
    version = meta.get(ARCHIVE_CATALOG_META.encode())
    catalog = pa.array(names, pa.string())
    idx_parts = []
    for chunk in pf.read(columns=["point"]).column("point").chunks:
        if pa.types.is_dictionary(chunk.type):
            rank = pc.index_in(chunk.dictionary.cast(pa.string()), value_set=catalog)
            rank = np.append(rank.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64), -1)
            ind = chunk.indices.fill_null(len(rank) - 1) if chunk.indices.null_count else chunk.indices
            idx_parts.append(rank[ind.to_numpy(zero_copy_only=False)])
        else:
            rank = pc.index_in(chunk.cast(pa.string()), value_set=catalog)
            idx_parts.append(rank.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64))
    idx = np.concatenate(idx_parts) if idx_parts else np.empty(0, np.int64)
    del idx_parts
    ts = _column(pf, "ts", np.int64)
    val = _column(pf, "value", np.float64)
    rows = pf.metadata.num_rows
    pa.default_memory_pool().release_unused()  # the decoded columns are numpy copies now
    keep = idx >= 0
    if not keep.all():
        idx, ts, val = idx[keep], ts[keep], val[keep]
    return idx, ts, val, version.decode() if version else None, rows


def read_history(storage: Storage, site: str, day: date, names: list[str], days: int) -> History:
    """The site's previous (up to `days`) stored health files before `day`."""
    previous = sorted(
        (k.day, key) for key in storage.list(health_site_prefix(site))
        if (k := parse_health_key(key)) is not None and k.day < day
    )[-days:] if days > 0 else []
    n = len(names)
    if not previous:
        return History.empty(n)
    index = {name: i for i, name in enumerate(names)}
    per_point: list[list[int]] = [[] for _ in range(n)]
    last_mode = [""] * n
    for _, key in previous:  # oldest first: the latest file's mode wins
        with storage.local_copy(key) as path:
            t = pq.read_table(path, columns=["point", "samples", "mode"])
        for name, samples, mode in zip(*(t.column(c).to_pylist() for c in ("point", "samples", "mode"))):
            i = index.get(name)
            if i is not None:
                per_point[i].append(int(samples))
                last_mode[i] = mode or ""
    median = np.array([float(np.median(s)) if s else np.nan for s in per_point])
    return History(median, last_mode, [d.isoformat() for d, _ in previous])


@dataclass
class HealthResult:
    site: str
    day: date
    uri: str
    points: int
    counts: dict[str, int]
    archive_rows: int
    history_days: list[str]
    file_bytes: int
    catalog_version: str | None
    elapsed_s: float
    table: pa.Table = field(repr=False)
    params: HealthParams = field(default_factory=HealthParams)

    @property
    def dead_ratio(self) -> float:
        return self.counts.get("dead", 0) / self.points if self.points else 0.0

    def worst(self, limit: int = 15) -> list[dict]:
        return worst_points(self.table, limit)

    def worst_markdown(self, limit: int = 15) -> str:
        return worst_markdown(self.worst(limit))

    def metadata(self) -> dict:
        return {
            "dagster/row_count": self.points,
            "path": self.uri,
            "bytes": self.file_bytes,
            "ok": self.counts.get("ok", 0),
            "degraded": self.counts.get("degraded", 0),
            "dead": self.counts.get("dead", 0),
            "dead_ratio": round(self.dead_ratio, 4),
            "archive_rows": self.archive_rows,
            "history_days": len(self.history_days),
            "catalog_version": self.catalog_version or "",
            "elapsed_s": round(self.elapsed_s, 3),
        }


def status_counts(table: pa.Table) -> dict[str, int]:
    statuses = table.column("status").to_pylist()
    return {s: statuses.count(s) for s in ("ok", "degraded", "dead")}


def worst_points(table: pa.Table, limit: int = 15) -> list[dict]:
    """The not-ok rows, worst first (severity, then fewest samples, then name)."""
    rows = [r for r in table.to_pylist() if r["status"] != "ok"]
    rows.sort(key=lambda r: (-r["severity"], r["samples"], r["point"]))
    return rows[:limit]


def worst_markdown(rows: list[dict]) -> str:
    if not rows:
        return "Every point is ok."
    lines = ["| point | status | samples | expected | reason |", "|---|---|---:|---:|---|"]
    for r in rows:
        cells = [r["point"], r["status"], str(r["samples"]), "" if r["expected"] is None else str(r["expected"]),
                 r["reason"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def load_catalog(storage: Storage, site: str, version: str | None) -> pa.Table:
    """The catalog version the archive was built from, else the current catalog."""
    if version:
        try:
            return read_catalog_version(storage, site, version)
        except CatalogError:
            pass
    return read_catalog_table(storage, site)


def build_point_health(
    storage: Storage, site: str, day: date, *, params: HealthParams = HealthParams(), log=None
) -> HealthResult:
    """Compute and publish `health/site=<site>/date=<day>/points.parquet`.

    No archive file (ACE had no data that day): every catalog point is dead."""
    started = time.monotonic()
    akey, hkey = archive_key(site, day), health_key(site, day)
    version, archive_rows = None, 0
    if storage.exists(akey):
        with storage.local_copy(akey) as path:
            version = (pq.ParquetFile(path).schema_arrow.metadata or {}).get(ARCHIVE_CATALOG_META.encode())
            version = version.decode() if version else None
            info = PointsInfo.from_catalog(load_catalog(storage, site, version))
            idx, ts, val, _, archive_rows = read_day_samples(path, info.names)
    else:
        info = PointsInfo.from_catalog(load_catalog(storage, site, None))
        idx, ts, val = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    if not info.names:
        raise HealthError(f"point_health {site} {day}: the point catalog has no collect-enabled point")
    history = read_history(storage, site, day, info.names, params.history_days)
    table = compute_health(info, idx, ts, val, day, params=params, history=history)
    meta = {"params": asdict(params), "archive_rows": archive_rows, "catalog_version": version,
            "history_days": history.days, "computed_at": datetime.now(timezone.utc).isoformat()}
    table = table.replace_schema_metadata({HEALTH_PARAMS_META: orjson.dumps(meta).decode()})
    done = publish(storage, hkey, lambda path: pq.write_table(table, path, compression="zstd"),
                   expect_rows=table.num_rows, what=f"point_health {site} {day}")
    result = HealthResult(
        site=site, day=day, uri=done.uri, points=table.num_rows, counts=status_counts(table),
        archive_rows=archive_rows, history_days=history.days, file_bytes=done.file_bytes,
        catalog_version=version, elapsed_s=time.monotonic() - started, table=table, params=params,
    )
    if log is not None:
        log.info(f"point_health {site} {day}: {result.counts} of {result.points} points "
                 f"from {archive_rows} samples in {result.elapsed_s:.2f}s")
    return result


def read_health_table(storage: Storage, site: str, day: date) -> pa.Table | None:
    """A stored health file (None when there is none)."""
    key = health_key(site, day)
    if not storage.exists(key):
        return None
    with storage.local_copy(key) as path:
        return pq.read_table(path)
