"""Re-check stored partitions (no ACE): every site-day's archive checks and every touched
month's rollup check, as plain outcomes; `bv verify` and `verify_job` both call this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bv_pipeline.archive_checks import CheckOutcome, Thresholds, check_site_day
from bv_pipeline.rollup_checks import check_rollup
from bv_store.days import day_range
from bv_store.duckdb_conn import duckdb_connect
from bv_store.storage import Storage


@dataclass
class Verdict:
    """The outcome of one stored partition: a site-day (archive) or a site-month (rollup)."""

    kind: str  # "site-day" | "rollup"
    site: str
    key: str  # "2025-06-03" or "2025-06"
    outcomes: list[CheckOutcome]

    @property
    def failed(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.blocking and not o.passed]

    @property
    def warnings(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if not o.blocking and not o.passed]

    def line(self) -> str:
        label = f"{self.kind:<8} {self.key}|{self.site}"
        if self.failed:
            return f"FAILED {label}  " + "; ".join(f"{o.name}: {o.description}" for o in self.failed)
        tail = f"  (warn: {', '.join(o.name for o in self.warnings)})" if self.warnings else ""
        return f"ok     {label}  {len(self.outcomes)} checks passed{tail}"


def verify_stored(
    storage: Storage, sites: list[str], start: date, end: date, limits: Thresholds, *, connect=duckdb_connect
) -> list[Verdict]:
    verdicts = []
    days = day_range(start, end)
    with connect(storage) as con:
        for site in sites:
            for day in days:
                verdicts.append(Verdict("site-day", site, day.isoformat(), check_site_day(storage, con, site, day, limits)))
            for month in sorted({d.strftime("%Y-%m") for d in days}):
                verdicts.append(Verdict("rollup", site, month, [check_rollup(storage, con, site, month)]))
    return verdicts


ACE_MATCH = "archive_matches_ace"


def diff_against_ace(client, storage: Storage, site: str, day: date, *, connect=duckdb_connect) -> CheckOutcome:
    """Fetch the day from ACE again into a scratch store, archive it with the stored catalog
    version, and compare per point with the stored archive (nothing stored is changed)."""
    import shutil
    import tempfile
    from pathlib import Path

    from bv_pipeline.archive_build import build_archive
    from bv_pipeline.raw_ingest import ingest_site_day
    import pyarrow.parquet as pq

    from bv_pipeline.verify import archive_content, content_mismatches
    from bv_store.catalog import read_catalog_names, read_catalog_version_names
    from bv_store.layout import archive_key
    from bv_store.schemas import ARCHIVE_CATALOG_META
    from bv_store.storage import LocalStorage

    label = f"{day.isoformat()}|{site}"
    scratch_root = Path(tempfile.mkdtemp(prefix="bv-verify-"))
    try:
        scratch = LocalStorage(scratch_root)
        names = read_catalog_names(storage, site)
        if storage.exists(archive_key(site, day)):  # rebuild with the catalog the stored day was built from
            with storage.local_copy(archive_key(site, day)) as path:
                version = ((pq.ParquetFile(path).schema_arrow.metadata or {}).get(ARCHIVE_CATALOG_META.encode(), b"")).decode()
            if version:
                names = read_catalog_version_names(storage, site, version)
        ingest_site_day(client, scratch, site, day)
        fresh = build_archive(scratch, site, day, names)
        with connect(storage) as con:
            stored = archive_content(con, storage.uri(archive_key(site, day)), day) if storage.exists(archive_key(site, day)) else {}
        with connect(scratch) as con:
            again = archive_content(con, scratch.uri(archive_key(site, day)), day) if not fresh.no_data else {}
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    bad = content_mismatches(again, stored, source="a fresh fetch from ACE")
    rows = sum(c.rows for c in stored.values())
    text = (f"{label}: the stored archive equals a fresh fetch from ACE ({len(stored)} points, {rows:,} rows)" if not bad
            else f"{label}: {len(bad)} points differ from a fresh fetch from ACE, first {bad[0]}")
    return CheckOutcome(ACE_MATCH, not bad, text, {"points_differing": len(bad)})
