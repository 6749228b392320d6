"""Reading a site's stored point catalog (`points/site=<s>/points.parquet`)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from bv_store.layout import points_key
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
