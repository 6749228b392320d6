"""The query engine as a Dagster resource, for assets, checks and sensors that read the
archive the way users do (e.g. a check that a closed day answers like its live data did)."""

from __future__ import annotations

import dagster as dg

from bv_query.engine import QueryEngine
from bv_store.storage import Storage


class QueryEngineResource(dg.ConfigurableResource):
    storage_url: str
    s3_endpoint_url: str | None = None
    max_point_count: int = 100
    max_range_days: int = 365
    cache_mb: float = 64

    def get_engine(self) -> QueryEngine:
        storage = Storage.from_url(self.storage_url, s3_endpoint_url=self.s3_endpoint_url)
        return QueryEngine(
            storage, max_point_count=self.max_point_count, max_range_days=self.max_range_days, cache_mb=self.cache_mb
        )
