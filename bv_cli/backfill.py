"""Partition backfills on a running Dagster webserver, through its GraphQL API.

The same mutation the UI's "Materialize" dialog sends: start, status and cancel are
Dagster's own backfill machinery (daemon, run queue, pools), not a home-made worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import httpx

from bv_store.days import day_range
from bv_assets.partitions import site_day_key

SITE_DAY_ASSETS = ("raw_site_day", "archived_site_day")

_LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}"""

_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions
      assetBackfillData { assetBackfillStatuses {
        ... on AssetPartitionsStatusCounts {
          assetKey { path } numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed
        } } }
      error { message }
    }
    ... on BackfillNotFoundError { message }
    ... on PythonError { message }
  }
}"""

_LIST = """
query List($limit: Int) {
  partitionBackfillsOrError(limit: $limit) {
    __typename
    ... on PartitionBackfills { results { id status numPartitions timestamp } }
    ... on PythonError { message }
  }
}"""

_CANCEL = """
mutation Cancel($id: String!) {
  cancelPartitionBackfill(backfillId: $id) {
    __typename
    ... on CancelBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""

DONE_STATES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class BackfillError(RuntimeError):
    """The webserver refused or failed a backfill request; the message says why."""


@dataclass
class BackfillStatus:
    backfill_id: str
    status: str
    partitions: int
    per_asset: dict[str, dict[str, int]]

    @property
    def done(self) -> bool:
        return self.status in DONE_STATES

    @property
    def succeeded(self) -> bool:
        failed = sum(c["failed"] for c in self.per_asset.values())
        return self.status in {"COMPLETED", "COMPLETED_SUCCESS"} and failed == 0


class BackfillClient:
    def __init__(self, url: str, timeout_s: float = 60.0):
        self.endpoint = url.rstrip("/") + "/graphql"
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, query: str, variables: dict) -> dict:
        try:
            response = self._http.post(self.endpoint, json={"query": query, "variables": variables})
        except httpx.HTTPError as exc:
            raise BackfillError(f"Dagster webserver at {self.endpoint} did not answer: {exc}") from exc
        if response.status_code != 200:
            raise BackfillError(f"Dagster webserver at {self.endpoint} answered HTTP {response.status_code}")
        body = response.json()
        if body.get("errors"):
            raise BackfillError("; ".join(e.get("message", "?") for e in body["errors"]))
        return body["data"]

    def launch(self, sites: list[str], start: date, end: date, title: str | None = None) -> str:
        keys = [str(site_day_key(site, day)) for day in day_range(start, end) for site in sites]
        params = {
            "partitionNames": keys,
            "assetSelection": [{"path": [name]} for name in SITE_DAY_ASSETS],
            "title": title or f"bv backfill {','.join(sites)} {start}..{end}",
        }
        result = self._call(_LAUNCH, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise BackfillError(f"backfill not launched ({result['__typename']}): {result.get('message', '')}")
        return result["backfillId"]

    def status(self, backfill_id: str) -> BackfillStatus:
        result = self._call(_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if result["__typename"] != "PartitionBackfill":
            raise BackfillError(f"backfill {backfill_id}: {result.get('message', result['__typename'])}")
        per_asset = {}
        for item in (result.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []:
            if "assetKey" in item:
                per_asset["/".join(item["assetKey"]["path"])] = {
                    "targeted": item["numPartitionsTargeted"],
                    "in_progress": item["numPartitionsInProgress"],
                    "materialized": item["numPartitionsMaterialized"],
                    "failed": item["numPartitionsFailed"],
                }
        return BackfillStatus(result["id"], result["status"], result.get("numPartitions") or 0, per_asset)

    def recent(self, limit: int = 10) -> list[dict]:
        result = self._call(_LIST, {"limit": limit})["partitionBackfillsOrError"]
        if result["__typename"] != "PartitionBackfills":
            raise BackfillError(result.get("message", result["__typename"]))
        return result["results"]

    def cancel(self, backfill_id: str) -> None:
        result = self._call(_CANCEL, {"id": backfill_id})["cancelPartitionBackfill"]
        if result["__typename"] != "CancelBackfillSuccess":
            raise BackfillError(f"backfill {backfill_id} not canceled: {result.get('message', '')}")


# A backfill is an ACE import: above this many site-days `bv backfill` wants --yes.
CONFIRM_ABOVE_SITE_DAYS = 62


@dataclass
class BackfillSize:
    site_days: int
    ace_requests: int | None

    def text(self) -> str:
        calls = f"about {self.ace_requests:,} ACE requests" if self.ace_requests is not None else "ACE requests unknown (no catalog yet)"
        return f"backfill: {self.site_days} site-days (one run each), {calls}"


def backfill_size(settings, sites: list[str], start: date, end: date, page_size: int = 50_000) -> BackfillSize:
    """Site-days and an estimate of ACE requests: per site-day, its points x 1 440 samples over
    the timeseries page size (the catalog's collect intervals when known)."""
    import math

    from bv_store.catalog import CatalogError, read_catalog_table
    from bv_store.storage import Storage

    days = (end - start).days + 1
    storage = Storage.from_url(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    requests = 0
    for site in sites:
        try:
            intervals = read_catalog_table(storage, site).column("collect_interval").to_pylist()
        except CatalogError:
            return BackfillSize(days * len(sites), None)
        samples = sum(86_400 // (i if i and i > 0 else 60) for i in intervals)
        requests += days * (math.ceil(samples / page_size) + 1)
    return BackfillSize(days * len(sites), requests)
