"""Reading a site's stored point catalog (`points/site=<s>/points.parquet`)."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq

from bv_store.layout import catalog_version_key, points_key
from bv_store.storage import Storage


class CatalogError(RuntimeError):
    """The catalog could not be built or read; the message names the site."""


def read_catalog_table(storage: Storage, site: str) -> pa.Table:
    key = points_key(site)
    if not storage.exists(key):
        raise CatalogError(f"no point catalog for site {site!r}: materialize ace_points first")
    with storage.local_copy(key) as path:
        return pq.read_table(path)


def read_catalog_names(storage: Storage, site: str) -> list[str]:
    """Sorted collect-enabled point names of a site, from its stored catalog."""
    key = points_key(site)
    if not storage.exists(key):
        raise CatalogError(
            f"no point catalog for site {site!r} at {storage.uri(key)}: "
            "materialize ace_points for this site first"
        )
    with storage.local_copy(key) as path:
        names = pq.read_table(path, columns=["name"]).column("name").to_pylist()
    if not names:
        raise CatalogError(f"the point catalog of site {site!r} at {storage.uri(key)} is empty")
    return sorted(names)


def catalog_version(names: list[str]) -> str:
    """The version of a catalog: what decides the archive's content, its sorted point names."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


def read_catalog_version(storage: Storage, site: str, version: str) -> pa.Table:
    """One recorded catalog version (CatalogError when it is not stored)."""
    key = catalog_version_key(site, version)
    if not storage.exists(key):
        raise CatalogError(f"catalog version {version} of site {site!r} is not stored at {storage.uri(key)}")
    with storage.local_copy(key) as path:
        return pq.read_table(path)


def read_catalog_version_names(storage: Storage, site: str, version: str) -> list[str]:
    return sorted(read_catalog_version(storage, site, version).column("name").to_pylist())


def snapshot_catalog(storage: Storage, site: str) -> tuple[list[str], str]:
    """(sorted names, version) of the current catalog, keeping a copy under its version key
    so an archive built from it can always be checked against exactly this catalog."""
    from bv_store.publish import publish

    names = read_catalog_names(storage, site)
    version = catalog_version(names)
    key = catalog_version_key(site, version)
    if not storage.exists(key):
        with storage.local_copy(points_key(site)) as current:
            table = pq.read_table(current)
        publish(storage, key, lambda path: pq.write_table(table, path, compression="zstd"),
                expect_rows=table.num_rows, what=f"catalog version {version} of {site}")
    return names, version
