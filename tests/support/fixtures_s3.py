"""Storage backends for tests: a local folder and a real S3-protocol server on loopback.

The S3 server is moto in server mode (a real HTTP server speaking the S3 protocol), so
boto3 and DuckDB's httpfs talk to it exactly as they would to S3, R2 or MinIO.
"""

from __future__ import annotations

import uuid

import boto3
import pytest

from bv_store.storage import Storage
from support.ports import free_port

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}



@pytest.fixture(scope="session")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def local_storage(tmp_path) -> Storage:
    return Storage.from_url(str(tmp_path / "storage"))


@pytest.fixture
def s3_storage(s3_server, monkeypatch) -> Storage:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("BV_S3_ENDPOINT_URL", s3_server)
    bucket = f"bv-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return Storage.from_url(f"s3://{bucket}/vitals", s3_endpoint_url=s3_server)


@pytest.fixture(params=["local", "s3"])
def storage(request) -> Storage:
    """The same test on both backends."""
    return request.getfixturevalue(f"{request.param}_storage")
