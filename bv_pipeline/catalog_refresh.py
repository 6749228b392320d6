"""ace_points: fetch a site's configured (collect-enabled) point catalog as Parquet.

The catalog decides which samples are archived, and carries what a person needs to find a
point (tags, units, BACnet names). Each refresh reports points added and removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from bv_ace.client import AceClient
from bv_store.catalog import CatalogError, read_catalog_names, snapshot_catalog
from bv_store.faults import crash_point
from bv_store.layout import points_key
from bv_store.publish import publish
from bv_store.schemas import BACNET_FIELDS, CATALOG_SCHEMA
from bv_store.storage import Storage

__all__ = ["CatalogError", "CatalogResult", "catalog_rows", "refresh_catalog"]


def _text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):  # OverflowError: inf
        return None


def _shape(site: str, index: int, point, field: str, value, want: type) -> None:
    """A point field of the wrong JSON type is a contract break: one clear error, nothing published."""
    if not isinstance(value, want):
        name = point.get("name") if isinstance(point, dict) else None
        wanted = {dict: "a JSON object", str: "a string", list: "a list"}[want]
        raise CatalogError(
            f"ACE configured point #{index} of site {site!r} ({name!r}): {field} is "
            f"{type(value).__name__} {str(value)[:40]!r}, not {wanted}; nothing published"
        )


def catalog_rows(points: list[dict], site: str = "?") -> list[dict]:
    """Flatten ACE point objects into catalog rows, one per distinct collect-enabled name."""
    rows: dict[str, dict] = {}
    for index, point in enumerate(points):
        _shape(site, index, point, "the point", point, dict)
        name = point.get("name")
        if not name or point.get("collect_enabled") is False:
            continue
        _shape(site, index, point, "name", name, str)
        bacnet = point.get("bacnet_data") or {}
        kv = point.get("kv_tags") or {}
        _shape(site, index, point, "bacnet_data", bacnet, dict)
        _shape(site, index, point, "kv_tags", kv, dict)
        _shape(site, index, point, "marker_tags", point.get("marker_tags") or [], list)
        row = {
            "name": name,
            "id": _int(point.get("id")),
            "site": _text(point.get("site")),
            "client": _text(point.get("client")),
            "point_type": _text(point.get("point_type")),
            "collect_enabled": True,
            "collect_interval": _int(point.get("collect_interval")),
            "marker_tags": [str(t) for t in (point.get("marker_tags") or [])],
            "kv_tags": [(str(k), _text(v)) for k, v in kv.items()],
            "unit": _text(bacnet.get("object_units") or kv.get("unit") or kv.get("units")),
            "bacnet_json": orjson.dumps(bacnet).decode() if bacnet else None,
            **{f"bacnet_{f}": _text(bacnet.get(f)) for f in BACNET_FIELDS},
            "created": _text(point.get("created")),
            "updated": _text(point.get("updated")),
        }
        rows[name] = row
    return [rows[n] for n in sorted(rows)]


@dataclass
class CatalogResult:
    site: str
    uri: str
    points: int
    added: list[str]
    removed: list[str]
    file_bytes: int
    with_unit: int

    def metadata(self) -> dict:
        return {
            "dagster/row_count": self.points,
            "path": self.uri,
            "bytes": self.file_bytes,
            "points_added": len(self.added),
            "points_removed": len(self.removed),
            "added_examples": ", ".join(self.added[:10]),
            "removed_examples": ", ".join(self.removed[:10]),
            "points_with_unit": self.with_unit,
        }


def refresh_catalog(client: AceClient, storage: Storage, site: str) -> CatalogResult:
    points = client.configured_points(site)
    rows = catalog_rows(points, site)
    if not rows:
        raise CatalogError(
            f"ACE returned {len(points)} configured points for site {site!r}, none collect-enabled "
            "with a name: nothing would be archived. Enable collection for the site's points in "
            "ACE or remove the site from BV_SITES."
        )
    key = points_key(site)
    previous: set[str] = set()
    if storage.exists(key):
        previous = set(read_catalog_names(storage, site))
    table = pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA)
    done = publish(storage, key, lambda path: pq.write_table(table, path, compression="zstd"),
                   expect_rows=len(rows), what=f"ace_points {site}")
    crash_point("catalog.before_version")
    snapshot_catalog(storage, site)  # this version stays readable for the archives built from it
    current = {r["name"] for r in rows}
    return CatalogResult(
        site=site,
        uri=storage.uri(key),
        points=len(rows),
        added=sorted(current - previous),
        removed=sorted(previous - current),
        file_bytes=done.file_bytes,
        with_unit=sum(1 for r in rows if r["unit"]),
    )
