"""Building Vitals query layer: DuckDB over the archive, rollups and live store."""

from bv_query.engine import QueryEngine, QueryResult
from bv_query.errors import QueryError, UnknownSite
from bv_query.params import QueryRequest

__all__ = ["QueryEngine", "QueryResult", "QueryError", "UnknownSite", "QueryRequest"]
