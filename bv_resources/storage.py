"""Dagster resource for the storage root: configuration in, a plain `Storage` out."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from bv_store.storage import S3_MAX_ATTEMPTS, Storage


class StorageResource(dg.ConfigurableResource):
    """Where Building Vitals keeps its files: a local folder or an S3-compatible bucket."""

    url: str = Field(description="BV_STORAGE_URL: /path, file:///path or s3://bucket/prefix")
    s3_endpoint_url: str | None = Field(default=None, description="BV_S3_ENDPOINT_URL (R2, MinIO); unset for AWS")

    def get_storage(self) -> Storage:
        client = None
        if self.url.startswith("s3://") and not self.s3_endpoint_url:
            # AWS itself: dagster-aws builds the client (credentials from boto3's usual chain).
            from dagster_aws.s3 import S3Resource

            # dagster-aws hands this to botocore's legacy "max_attempts", which counts retries
            # only: one less gives the same S3_MAX_ATTEMPTS attempts in all as bv_store's client.
            client = S3Resource(max_attempts=S3_MAX_ATTEMPTS - 1).get_client()
        return Storage.from_url(self.url, s3_endpoint_url=self.s3_endpoint_url, s3_client=client)
