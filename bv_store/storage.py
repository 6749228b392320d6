"""One storage URL for everything the pipeline writes: a local folder or an S3 bucket.

`Storage.from_url("/data/bv")`, `"file:///data/bv"` or `"s3://bucket/prefix"` (AWS S3,
Cloudflare R2, MinIO: endpoint from `s3_endpoint_url`, credentials from the usual AWS_*
environment). Keys are relative POSIX paths (`archive/site=x/date=2025-06-03/data.parquet`).

Publishing is atomic: a local file is written under a hidden temp name in its destination
folder and renamed into place; an S3 object appears only once its upload completes. A
reader therefore sees a whole file or none.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

TEMP_MARK = ".tmp-"


class StorageError(Exception):
    """A storage operation failed; the message names the operation and the key or URL."""


class StorageNotFound(StorageError):
    """The key does not exist."""


def validate_key(key: str) -> str:
    key = key.strip("/") if key else key
    if not key or key.startswith("/") or "\\" in key:
        raise StorageError(f"invalid storage key {key!r}")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid storage key {key!r}: empty, '.' or '..' segment")
    return key


class Storage(ABC):
    url: str

    @staticmethod
    def from_url(url: str, *, s3_endpoint_url: str | None = None, s3_client=None) -> "Storage":
        if not url:
            raise StorageError("no storage URL given (BV_STORAGE_URL)")
        parsed = urlparse(url)
        if parsed.scheme in ("", "file"):
            path = parsed.path if parsed.scheme == "file" else url
            if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
                raise StorageError(f"storage URL {url!r}: file URLs must be file:///absolute/path")
            return LocalStorage(Path(path))
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise StorageError(f"storage URL {url!r} names no bucket (use s3://bucket/prefix)")
            return S3Storage(parsed.netloc, parsed.path.strip("/"), endpoint_url=s3_endpoint_url, client=s3_client)
        raise StorageError(f"storage URL {url!r}: unsupported scheme {parsed.scheme!r} (use a path, file:// or s3://)")

    @abstractmethod
    def uri(self, key: str) -> str: ...

    @abstractmethod
    def put_file(self, local_path, key: str) -> int: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int | None: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]: ...

    @abstractmethod
    def list_sizes(self, prefix: str) -> dict[str, int]:
        """key -> size in bytes of every published file under prefix (one listing call)."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    @abstractmethod
    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]: ...

    @abstractmethod
    def new_temp_path(self, suffix: str) -> Path: ...


class LocalStorage(Storage):
    def __init__(self, root: Path):
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self.endpoint_url = None

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def uri(self, key: str) -> str:
        return str(self.root / key.strip("/")) if key.strip("/") else str(self.root)

    def new_temp_path(self, suffix: str) -> Path:
        # Scratch lives under the root so the final os.replace never crosses filesystems.
        scratch = self.root / ".scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch / f"{TEMP_MARK}{uuid.uuid4().hex}{suffix}.partial"

    def put_file(self, local_path, key: str) -> int:
        dest = self._path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.parent / f".{dest.name}{TEMP_MARK}{uuid.uuid4().hex}"
            shutil.copyfile(local_path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, dest)
        except OSError as exc:
            raise StorageError(f"put {key} into {self.url} failed: {exc}") from exc
        finally:
            if "tmp" in locals() and tmp.exists():
                tmp.unlink(missing_ok=True)
        return dest.stat().st_size

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise StorageNotFound(f"{key} not found in {self.url}")
        return path.read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        if not base.exists():
            return []
        keys = []
        for path in base.rglob("*"):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and TEMP_MARK not in path.name and not rel.startswith(".scratch/"):
                keys.append(rel)
        return sorted(keys)

    def list_sizes(self, prefix: str) -> dict[str, int]:
        base = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        sizes: dict[str, int] = {}
        if not base.is_dir():
            return sizes
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != ".scratch"]
            for name in filenames:
                if TEMP_MARK in name:
                    continue
                path = os.path.join(dirpath, name)
                try:
                    sizes[Path(path).relative_to(self.root).as_posix()] = os.stat(path).st_size
                except FileNotFoundError:  # removed between listing and stat
                    continue
        return sizes

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise StorageNotFound(f"{key} not found in {self.url}")
        yield path


def s3_client(endpoint_url: str | None, *, max_attempts: int = 5):
    """A boto3 S3 client; credentials and region come from boto3's usual chain (AWS_*)."""
    import boto3
    from botocore.config import Config

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # R2, MinIO and moto want path-style addressing (no bucket subdomains).
    style = {"addressing_style": "path"} if endpoint_url else {}
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(s3=style, retries={"max_attempts": max_attempts, "mode": "standard"}),
    )


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None = None, client=None):
        self.bucket, self.prefix, self.endpoint_url = bucket, prefix, endpoint_url
        self.url = f"s3://{bucket}/{prefix}".rstrip("/")
        # The Dagster resource hands in a client built by dagster-aws; plain callers (query
        # server, CLI) get one from boto3's usual credential chain.
        self._client = client or s3_client(endpoint_url)

    def _list_prefix(self, prefix: str) -> str:
        # A trailing "/" is kept: "archive/site=demo/" must not also match "site=demo_office/".
        inner = prefix.strip("/") + ("/" if prefix.endswith("/") and prefix.strip("/") else "")
        return f"{self.prefix}/{inner}" if self.prefix else inner

    def _key(self, key: str) -> str:
        key = validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        key = key.strip("/")
        return f"{self.url}/{key}" if key else self.url

    def new_temp_path(self, suffix: str) -> Path:
        fd, name = tempfile.mkstemp(prefix="bv" + TEMP_MARK, suffix=suffix)
        os.close(fd)
        return Path(name)

    def _fail(self, op: str, key: str, exc: Exception) -> StorageError:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "") if hasattr(exc, "response") else ""
        cls = StorageNotFound if code in ("404", "NoSuchKey", "NotFound") else StorageError
        return cls(f"{op} s3://{self.bucket}/{self._key(key)} failed: {code or type(exc).__name__}")

    def put_file(self, local_path, key: str) -> int:
        try:
            self._client.upload_file(str(local_path), self.bucket, self._key(key))
        except Exception as exc:  # boto3 raises many types; each becomes one clear error
            raise self._fail("upload to", key, exc) from exc
        return Path(local_path).stat().st_size

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:
            raise self._fail("read", key, exc) from exc

    def size(self, key: str) -> int | None:
        try:
            return self._client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]
        except Exception as exc:
            err = self._fail("head", key, exc)
            if isinstance(err, StorageNotFound):
                return None
            raise err from exc

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def list(self, prefix: str) -> list[str]:
        full = self._list_prefix(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except Exception as exc:
            raise self._fail("list", prefix or "(root)", exc) from exc
        return sorted(keys)

    def list_sizes(self, prefix: str) -> dict[str, int]:
        full = self._list_prefix(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        sizes: dict[str, int] = {}
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                sizes.update({obj["Key"][strip:]: obj["Size"] for obj in page.get("Contents", [])})
        except Exception as exc:
            raise self._fail("list", prefix or "(root)", exc) from exc
        return sizes

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self._fail("delete", key, exc) from exc

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.new_temp_path(Path(key).suffix)
        try:
            try:
                self._client.download_file(self.bucket, self._key(key), str(path))
            except Exception as exc:
                raise self._fail("download", key, exc) from exc
            yield path
        finally:
            path.unlink(missing_ok=True)
