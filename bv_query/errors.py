"""Errors a query can end in; each names the parameter (or the site) that caused it."""

from __future__ import annotations


class QueryError(ValueError):
    """Bad input: the HTTP API answers 400 with {"error", "parameter"}."""

    status = 400

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter
        self.message = message

    def to_json(self) -> dict:
        return {"error": self.message, "parameter": self.parameter}


class UnknownSite(QueryError):
    """No catalog, archive or live data exists for the site: the HTTP API answers 404."""

    status = 404

    def __init__(self, site: str):
        super().__init__("site_name", f"unknown site {site!r}: no catalog, archive or live data for it")
