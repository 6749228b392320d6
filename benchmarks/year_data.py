"""A year of the reference site (4,583 points x 1 min), 365 distinct days, in a real store.

    .venv/bin/python benchmarks/year_data.py [--work /work/bench-data/year] [--days 365] [--jobs 1]

Each day is the simulator's own model computed in numpy for the whole day at once: the scrape
schedule of `bv_sim.timeseries.Schedule` (a device's points share a scrape time, with its
per-slot jitter of 5 ms - 2 s, so timestamps differ from day to day) and the values of
`bv_sim.signals` (daily cycle, a weekly weather-like drift, hashed noise, occupancy schedule,
rounded like the controller prints them). The samples the source would send as null or "nan"
are absent (the archive drops them), and each day a few devices are offline for a while
(chosen from the day, 0-3 devices, 10-180 minutes): the gaps a real site has.

The day is written by the archive's own writer (`archive_build.write_archive_file`, published
with `bv_store.publish` under `layout.archive_key`), with the catalog from the simulator's
points (`catalog_refresh.catalog_rows`), and each month is rolled up by
`rollup_build.build_month_rollup`. A manifest (`manifest.json`) records what was built; a
later run reuses the days and months it lists and builds only the missing ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

SITE = "ref_site"
N_POINTS = 4583
FIRST_DAY = date(2025, 1, 1)
DEFAULT_WORK = Path("/work/bench-data/year")
GENERATOR = "year_data v1"  # bump when the model changes: a manifest of another version is rebuilt
DAY_US = 86_400_000_000


@dataclass
class YearData:
    work: Path
    storage_root: Path
    days: list[date]
    point_names: list[str]  # sorted: the archive's point order
    rows: int
    archive_bytes: int
    rollup_bytes: int
    manifest: dict

    @property
    def last_day(self) -> date:
        return self.days[-1]

    def archive_path(self, day: date) -> Path:
        from bv_store.layout import archive_key

        return self.storage_root / archive_key(SITE, day)


# ---------------------------------------------------------------- the model, one day at a time
class DayModel:
    """The simulator's reference site, computed a whole UTC day at a time."""

    def __init__(self, n_points: int = N_POINTS):
        from bv_sim.sites import Site, reference_site

        self.site = Site(reference_site(n_points))
        names = list(self.site.names)
        order = np.argsort(np.array(names, dtype=object), kind="stable")
        self.sorted_names = [names[i] for i in order]
        self.rank = np.empty(len(names), dtype=np.int32)  # simulator index -> archive rank
        self.rank[order] = np.arange(len(names), dtype=np.int32)
        self.schedule = self.site.pager.schedule
        if self.schedule.cov_pidx.size:
            raise RuntimeError("the reference site has change-of-value points: this generator covers scrape classes only")
        self.device = np.array([p.device for p in self.site.point_specs], dtype=object)
        self.devices = sorted(set(self.device.tolist()))

    def day(self, day: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(archive rank int32, ts µs int64, value float64) sorted by (rank, ts)."""
        from bv_sim.signals import hash2

        d0 = int(np.datetime64(day, "us").astype(np.int64))
        d1 = d0 + DAY_US
        ranks, times = [], []
        for c in self.schedule.classes:  # Schedule.block's formula over the whole day
            iv = c.interval_us
            ks = np.arange(d0 // iv - 1, (d1 - 1) // iv + 1, dtype=np.int64)
            jit = (hash2(c.gseed[:, None], ks[None, :]) % c.jitter_us[:, None].astype(np.uint64)).astype(np.int64)
            scrape = ks[None, :] * iv + c.phase_us[:, None] + jit
            t = scrape[c.pgroup]  # (points of the class, slots): each row rises with the slot
            ranks.append(np.broadcast_to(self.rank[c.pidx][:, None], t.shape))
            times.append(t)
        # One class at the reference site (every point at 60 s); rows ordered by rank -> sorted.
        rank = np.concatenate(ranks)
        t = np.concatenate(times)
        pidx = np.concatenate([c.pidx for c in self.schedule.classes])
        by_rank = np.argsort(rank[:, 0], kind="stable")
        rank, t, pidx = rank[by_rank], t[by_rank], pidx[by_rank]
        keep = (t >= d0) & (t < d1)
        keep &= ~self._outages(day, pidx, t)
        idx = np.broadcast_to(pidx[:, None], t.shape)[keep]
        t_flat = t[keep]
        value, sent = self._values(idx, t_flat)
        return rank[keep][sent].astype(np.int32), t_flat[sent], value[sent]

    def _outages(self, day: date, pidx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Devices offline for a while this day (0-3 of them), as (points, slots) mask."""
        rng = np.random.default_rng(day.toordinal())
        mask = np.zeros(t.shape, dtype=bool)
        d0 = int(np.datetime64(day, "us").astype(np.int64))
        for _ in range(int(rng.integers(0, 4))):
            dev = self.devices[int(rng.integers(0, len(self.devices)))]
            start = d0 + int(rng.integers(0, 1440 - 180)) * 60_000_000
            end = start + int(rng.integers(10, 181)) * 60_000_000
            rows = self.device[pidx] == dev
            mask[rows] |= (t[rows] >= start) & (t[rows] < end)
        return mask

    def _values(self, idx: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Typed values (what the archive stores for the simulator's strings) and which were sent."""
        from bv_sim import signals as s

        p = self.site.params
        out = np.empty(len(idx), dtype=np.float64)
        kinds = p.kind[idx]
        for code in np.unique(kinds):
            m = kinds == code
            i, tt = idx[m], t[m]
            if code == s.ANALOG:
                x = s._analog(p, i, tt)
            elif code == s.SETPOINT:
                x = p.base[i]
            elif code == s.METER:
                x = s._meter(p, i, tt)
            elif code == s.MULTISTATE:
                out[m] = 1 + s.occupied(tt).astype(np.int64) + (s.unit(s.hash2(p.seed[i], tt)) < p.noise[i])
                continue
            else:
                out[m] = s._bits(p, i, tt).astype(np.float64)
                continue
            scale = 10.0 ** p.decimals[i].astype(np.float64)
            # format_numbers prints repr(rint(x*10^d)/10^d); parsing that string gives this double
            out[m] = np.rint(x * scale) / scale + 0.0
        # The source's null and "nan" samples never reach the archive.
        r = (s.hash2(p.seed[idx] ^ np.uint64(0x5EED), t) % np.uint64(1_000_000)).astype(np.int64)
        gap = (r < p.null_ppm[idx]) | ((r >= 999_999 - p.nan_ppm[idx]) & (r < 999_999))
        return out, ~gap


# ---------------------------------------------------------------- writing the store
def _storage(root: Path):
    from bv_store.storage import LocalStorage

    root.mkdir(parents=True, exist_ok=True)
    return LocalStorage(root)


def write_catalog(storage, model: DayModel) -> str:
    from bv_pipeline.catalog_refresh import catalog_rows
    from bv_store.catalog import snapshot_catalog
    from bv_store.layout import points_key
    from bv_store.publish import publish
    from bv_store.schemas import CATALOG_SCHEMA

    table = pa.Table.from_pylist(catalog_rows(model.site.configured_points()), schema=CATALOG_SCHEMA)
    publish(storage, points_key(SITE), lambda p: pq.write_table(table, p, compression="zstd"), expect_rows=table.num_rows)
    return snapshot_catalog(storage, SITE)[1]


def write_day(storage, model: DayModel, day: date, version: str) -> tuple[int, int]:
    """Generate and publish one archive day; returns (rows, bytes)."""
    from bv_pipeline.archive_build import write_archive_file
    from bv_store.layout import archive_key
    from bv_store.publish import publish

    rank, ts, value = model.day(day)
    if not len(rank):
        raise RuntimeError(f"generated day {day} has no samples")
    table = pa.Table.from_arrays(
        [pa.DictionaryArray.from_arrays(pa.array(rank), pa.array(model.sorted_names, pa.string())),
         pa.array(ts, pa.timestamp("us", tz="UTC")), pa.array(value, pa.float64())],
        names=["point", "ts", "value"],
    )
    done = publish(storage, archive_key(SITE, day), lambda p: write_archive_file(table, p, version), expect_rows=len(rank),
                   what=f"generated archive {SITE} {day}")
    return len(rank), done.file_bytes


_WORKER: dict = {}


def _work_day(args) -> tuple[str, int, int, float]:
    root, day_iso, version = args
    if "model" not in _WORKER:
        _WORKER["model"] = DayModel()
        _WORKER["storage"] = _storage(Path(root))
    started = time.perf_counter()
    rows, size = write_day(_WORKER["storage"], _WORKER["model"], date.fromisoformat(day_iso), version)
    return day_iso, rows, size, time.perf_counter() - started


def ensure_year(work: Path = DEFAULT_WORK, days: int = 365, jobs: int = 1, log=print) -> YearData:
    """The store under `work` with `days` days from FIRST_DAY and their monthly rollups."""
    from bv_pipeline.rollup_build import build_month_rollup
    from bv_store.layout import rollup_key

    work = Path(work)
    root = work / "storage"
    manifest_path = work / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if manifest.get("generator") != GENERATOR or manifest.get("points") != N_POINTS:
        manifest = {"generator": GENERATOR, "site": SITE, "points": N_POINTS, "days": {}, "rollups": {}}
    storage = _storage(root)
    model = DayModel()
    from bv_store.layout import points_key

    version = manifest.get("catalog_version")
    if not version or not storage.exists(points_key(SITE)):
        version = manifest["catalog_version"] = write_catalog(storage, model)
    wanted = [FIRST_DAY + timedelta(days=i) for i in range(days)]

    def save() -> None:
        tmp = manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(tmp, manifest_path)

    missing = [d for d in wanted if d.isoformat() not in manifest["days"]
               or not _same_size(root, d, manifest["days"][d.isoformat()]["bytes"])]
    started = time.perf_counter()
    if missing:
        log(f"generating {len(missing)} days of {SITE} ({N_POINTS} points x 1 min) with {jobs} process(es) ...")
        tasks = [(str(root), d.isoformat(), version) for d in missing]
        if jobs > 1:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                results = pool.imap_unordered(_work_day, tasks)
                _collect(results, manifest, save, log)
        else:
            _WORKER.update(model=model, storage=storage)
            _collect(map(_work_day, tasks), manifest, save, log)
        manifest["last_generation_s"] = round(time.perf_counter() - started, 1)
    months = sorted({d.strftime("%Y-%m") for d in wanted})
    for month in months:
        days_in = {d: manifest["days"][d]["bytes"] for d in manifest["days"] if d.startswith(month)}
        if manifest["rollups"].get(month, {}).get("days") == days_in and (root / rollup_key(SITE, month)).is_file():
            continue
        t0 = time.perf_counter()
        result = build_month_rollup(storage, SITE, month)
        manifest["rollups"][month] = {"days": days_in, "rows": result.rows, "bytes": result.file_bytes,
                                      "seconds": round(time.perf_counter() - t0, 1)}
        log(f"  rollup {month}: {result.rows:,} rows from {len(result.days)} days in {time.perf_counter() - t0:.1f} s")
        save()
    save()
    chosen = [manifest["days"][d.isoformat()] for d in wanted]
    return YearData(
        work=work, storage_root=root, days=wanted, point_names=model.sorted_names,
        rows=sum(c["rows"] for c in chosen), archive_bytes=sum(c["bytes"] for c in chosen),
        rollup_bytes=sum(manifest["rollups"][m]["bytes"] for m in months), manifest=manifest,
    )


def _same_size(root: Path, day: date, size: int) -> bool:
    path = root / f"archive/site={SITE}/date={day}/data.parquet"
    return path.is_file() and path.stat().st_size == size


def _collect(results, manifest: dict, save, log) -> None:
    for n, (day_iso, rows, size, seconds) in enumerate(results, 1):
        manifest["days"][day_iso] = {"rows": rows, "bytes": size, "seconds": round(seconds, 2)}
        if n % 10 == 0 or n < 3:
            log(f"  day {day_iso}: {rows:,} samples, {size / 1e6:.1f} MB, {seconds:.1f} s")
            save()
    save()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--jobs", type=int, default=1, help="processes generating days (the machine has 2 cores)")
    args = parser.parse_args()
    started = time.perf_counter()
    year = ensure_year(args.work, args.days, args.jobs)
    seconds = time.perf_counter() - started
    print(f"{len(year.days)} days, {year.rows:,} samples, archive {year.archive_bytes / 1e9:.2f} GB "
          f"({year.archive_bytes / year.rows:.3f} B/sample), rollups {year.rollup_bytes / 1e6:.1f} MB; "
          f"this run {seconds:.1f} s (generation {year.manifest.get('last_generation_s', 0)} s when days were built)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
