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

from bv_store.faults import armed_for_key, crash_point_for_key

TEMP_MARK = ".tmp-"


class StorageError(Exception):
    """A storage operation failed; the message names the operation and the key or URL."""


class StorageNotFound(StorageError):
    """The key does not exist."""


class StorageWriteError(StorageError, OSError):
    """Writing a file failed in the operating system (a full disk); names the path and the key."""


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
        tmp = dest.parent / f".{dest.name}{TEMP_MARK}{uuid.uuid4().hex}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local_path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            crash_point_for_key(key, "put_incomplete")
            os.replace(tmp, dest)
        except OSError as exc:
            raise StorageWriteError(exc.errno, f"put {key} into {self.url} failed writing {tmp}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)  # gone after os.replace; a leftover after any failure
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


# Every S3 call is retried a bounded number of times (botocore "standard" mode): at most
# S3_MAX_ATTEMPTS attempts in all, on 500/502/503/504, throttling (SlowDown, 429) and
# connection errors. Between attempts i and i+1 botocore sleeps rand(0, 1) * min(scale * 2**i,
# 20 s), scale 1 s for throttling and 0.05 s otherwise (plus up to 5 s more when the server
# sends x-amz-retry-after); each attempt waits at most the connect and read timeouts. A call
# that keeps failing therefore ends within `s3_worst_case_s()` with a StorageError.
S3_MAX_ATTEMPTS = 5
S3_CONNECT_TIMEOUT_S = 10
S3_READ_TIMEOUT_S = 60
_BACKOFF_CAP_S, _RETRY_AFTER_EXTRA_S = 20.0, 5.0


def s3_backoff_bound_s(max_attempts: int = S3_MAX_ATTEMPTS, *, throttled: bool = True) -> float:
    """The most botocore sleeps between `max_attempts` attempts (without x-amz-retry-after)."""
    scale = 1.0 if throttled else 0.05
    return sum(min(scale * 2**i, _BACKOFF_CAP_S) for i in range(max_attempts - 1))


def s3_worst_case_s(max_attempts: int = S3_MAX_ATTEMPTS) -> float:
    """The longest a failing S3 call can take before it raises: every attempt timing out."""
    sleeps = s3_backoff_bound_s(max_attempts) + _RETRY_AFTER_EXTRA_S * (max_attempts - 1)
    return sleeps + max_attempts * (S3_CONNECT_TIMEOUT_S + S3_READ_TIMEOUT_S)


def s3_client(endpoint_url: str | None, *, max_attempts: int = S3_MAX_ATTEMPTS):
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
        config=Config(
            s3=style,
            # total_max_attempts counts the first attempt; botocore's "max_attempts" would not.
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=S3_CONNECT_TIMEOUT_S,
            read_timeout=S3_READ_TIMEOUT_S,
        ),
    )


def _s3_failure(exc: Exception) -> tuple[str, int | None]:
    """(S3 error code or exception name, attempts made when S3 reported them) of a boto3
    failure; boto3's upload wraps the ClientError, so the cause chain is searched."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict) and response.get("Error"):
            retries = response.get("ResponseMetadata", {}).get("RetryAttempts")
            return str(response["Error"].get("Code", "")) or type(seen).__name__, (
                retries + 1 if isinstance(retries, int) else None
            )
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__, None


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
        code, attempts = _s3_failure(exc)
        if code in ("404", "NoSuchKey", "NotFound"):
            return StorageNotFound(f"{op} s3://{self.bucket}/{self._key(key)} failed: {code}")
        retries = getattr(self._client.meta.config, "retries", None) or {}
        limit = retries.get("total_max_attempts") or (retries["max_attempts"] + 1 if "max_attempts" in retries else None)
        tries = f" after {attempts} attempts" if attempts else ""
        bound = f" (retries bounded at {limit} attempts)" if limit else ""
        # The code and the key only: botocore's own text can carry the endpoint URL.
        return StorageError(f"{op} s3://{self.bucket}/{self._key(key)} failed: {code}{tries}{bound}")

    def put_file(self, local_path, key: str) -> int:
        extra = {}
        if armed_for_key(key, "put_incomplete"):
            extra["Callback"] = _crash_mid_upload(key)
        try:
            # The object appears only when the upload completes (one PUT, or a multipart
            # upload completed by its last call): a reader never sees part of it.
            self._client.upload_file(str(local_path), self.bucket, self._key(key), **extra)
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


def _crash_mid_upload(key: str):
    """An upload progress callback that dies once part of the body is on its way (crash tests)."""

    def on_progress(sent_now: int) -> None:
        if sent_now > 0:
            crash_point_for_key(key, "put_incomplete")

    return on_progress
