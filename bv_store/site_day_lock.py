"""One writer per site-day at a time, across processes and machines, for runs that bypass the
Dagster run queue (in-process `materialize`, `bv materialize`, `bv sync`) and for live sync
racing day close. Queued runs are already one per partition (`dagster/partition` limit 1 in
the instance's dagster.yaml); this lock is the writer's own guarantee.

    with site_day_lock(storage, "demo_office", day, what="archive") as held:
        ...  # read, build, publish; held.waited_s says how long another writer held it

Local storage: an exclusive `flock` on `.scratch/locks/site=<s>/date=<d>.lock` under the root
(`.scratch` is never listed as data). The kernel drops it when its holder dies: no stale lock.

S3 (AWS S3, R2, MinIO; moto in the tests): a lease object `locks/site=<s>/date=<d>.lease`
created with a conditional put (`If-None-Match: *`: only one creator wins). The holder renews
it every TTL/4 with `If-Match: <its ETag>`; a lease whose holder died expires after TTL (at
once when the holder ran on this machine and its pid is gone) and is taken over with
`If-Match: <the stale lease's ETag>`, so two waiters cannot both take it.
Release deletes the lease only if it is still the holder's.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Iterator

from bv_store.storage import LocalStorage, S3Storage, Storage, StorageError

# A site-day write (raw fetch of a large site) takes minutes; a waiter gives up after this.
DEFAULT_WAIT_S = 30 * 60
# A dead holder's S3 lease blocks others at most this long (renewed every TTL/4 while held).
DEFAULT_TTL_S = 120.0
_POLL_S = (0.05, 1.0)  # first and longest sleep between attempts


class SiteDayLockTimeout(StorageError):
    """Another writer held the site-day's lock for longer than the wait; names the holder."""


class SiteDayLockLost(StorageError):
    """The S3 lease could not be renewed (taken over after expiring): the writer must stop."""


@dataclass
class LockHeld:
    site: str
    day: date
    waited_s: float = 0.0
    lost: str = ""

    def check(self) -> None:
        """Raise if the lease was lost (S3 only); call before publishing."""
        if self.lost:
            raise SiteDayLockLost(f"site-day lock {self.site} {self.day}: {self.lost}")


def lock_key(site: str, day: date) -> str:
    return f"locks/site={site}/date={day.isoformat()}.lease"


def _holder(what: str, owner: str, ttl_s: float) -> dict:
    now = time.time()
    return {"owner": owner, "what": what, "host": socket.gethostname(), "pid": os.getpid(),
            "acquired_at": now, "expires_at": now + ttl_s}


@contextmanager
def site_day_lock(storage: Storage, site: str, day: date, *, what: str = "", wait_s: float = DEFAULT_WAIT_S,
                  ttl_s: float = DEFAULT_TTL_S) -> Iterator[LockHeld]:
    if isinstance(storage, LocalStorage):
        with _local_lock(storage, site, day, what, wait_s) as held:
            yield held
    elif isinstance(storage, S3Storage):
        with _s3_lease(storage, site, day, what, wait_s, ttl_s) as held:
            yield held
    else:
        raise StorageError(f"site-day lock: no lock for storage type {type(storage).__name__}")


def _sleeps(wait_s: float):
    """Sleep durations (growing) until the wait is spent; yields the elapsed time."""
    start, pause = time.monotonic(), _POLL_S[0]
    while (elapsed := time.monotonic() - start) < wait_s:
        yield elapsed
        time.sleep(min(pause, max(0.0, wait_s - elapsed)))
        pause = min(pause * 2, _POLL_S[1])


@contextmanager
def _local_lock(storage: LocalStorage, site: str, day: date, what: str, wait_s: float) -> Iterator[LockHeld]:
    path = storage.root / ".scratch" / "locks" / f"site={site}" / f"date={day.isoformat()}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    # flock (not fcntl/lockf): two opens conflict even within one process (threads), and the
    # lock goes with the open file, released by the kernel when the holder exits or dies.
    with open(path, "a+") as handle:
        for _ in _sleeps(wait_s):
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                continue
        else:
            handle.seek(0)
            raise SiteDayLockTimeout(f"site-day lock {site} {day} ({path}): still held after {wait_s:.0f} s "
                                     f"by {handle.read()[:200] or 'an unknown writer'}")
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(_holder(what, uuid.uuid4().hex, 0)))
            handle.flush()
            yield LockHeld(site, day, waited_s=round(time.monotonic() - start, 3))
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _holder_dead_here(lease: dict) -> bool:
    """The holder ran on this machine and its process is gone (killed): no need to wait for
    the TTL. A holder on another machine is only known dead by its lease expiring."""
    if lease.get("host") != socket.gethostname() or not isinstance(lease.get("pid"), int):
        return False
    try:
        os.kill(lease["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) if hasattr(exc, "response") else ""


# A conditional put that lost: 412 (the condition failed) or 409 (a concurrent conditional
# write to the same key was in progress, AWS asks to retry).
_LOST_RACE = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


@contextmanager
def _s3_lease(storage: S3Storage, site: str, day: date, what: str, wait_s: float, ttl_s: float) -> Iterator[LockHeld]:
    client, bucket, key = storage._client, storage.bucket, storage._key(lock_key(site, day))
    owner = uuid.uuid4().hex
    start = time.monotonic()
    etag, seen = None, ""

    def put(**condition) -> str | None:
        try:
            body = json.dumps(_holder(what, owner, ttl_s)).encode()
            return client.put_object(Bucket=bucket, Key=key, Body=body, **condition)["ETag"]
        except Exception as exc:
            if _error_code(exc) in _LOST_RACE:
                return None
            raise StorageError(f"site-day lock {site} {day}: put s3://{bucket}/{key} failed: "
                               f"{_error_code(exc) or type(exc).__name__}") from exc

    for _ in _sleeps(wait_s):
        if (etag := put(IfNoneMatch="*")) is not None:
            break
        try:
            current = client.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                continue  # released between our put and this read: try again at once
            raise StorageError(f"site-day lock {site} {day}: read s3://{bucket}/{key} failed: "
                               f"{_error_code(exc) or type(exc).__name__}") from exc
        seen = current["Body"].read().decode(errors="replace")
        try:
            lease = json.loads(seen)
            expired = float(lease.get("expires_at", 0)) < time.time() or _holder_dead_here(lease)
        except (ValueError, AttributeError, TypeError):
            lease, expired = {}, True  # not a lease we wrote: treat as stale
        if lease.get("owner") == owner:  # our put went through but its answer was lost (retried)
            etag = current["ETag"]
            break
        if expired and (etag := put(IfMatch=current["ETag"])) is not None:
            break
    else:
        raise SiteDayLockTimeout(f"site-day lock {site} {day} (s3://{bucket}/{key}): still held after "
                                 f"{wait_s:.0f} s by {seen[:200] or 'an unknown writer'}")

    held = LockHeld(site, day, waited_s=round(time.monotonic() - start, 3))
    stop = threading.Event()

    def renew():
        nonlocal etag
        while not stop.wait(ttl_s / 4):
            new = put(IfMatch=etag)
            if new is None:
                held.lost = "the lease was taken over by another writer (renewal refused)"
                return
            etag = new

    renewer = threading.Thread(target=renew, name=f"lease-{site}-{day}", daemon=True)
    renewer.start()
    try:
        yield held
    finally:
        stop.set()
        renewer.join()
        if not held.lost:
            _release(client, bucket, key, etag, owner, f"site-day lock {site} {day}")


def _release(client, bucket: str, key: str, etag: str, owner: str, label: str) -> None:
    """Delete the lease if it is still ours: a conditional delete where the backend has one,
    else read-check-delete (the lease cannot change hands while it is renewed and unexpired)."""
    try:
        client.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
        return
    except Exception as exc:
        code = _error_code(exc)
        if code in _LOST_RACE | {"NoSuchKey", "404"}:
            return  # not ours any more (or gone): nothing to release
        if code not in ("NotImplemented", "501", "InvalidArgument", "400"):
            raise StorageError(f"{label}: release of s3://{bucket}/{key} failed: {code or type(exc).__name__}") from exc
    try:
        lease = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        if lease.get("owner") == owner:
            client.delete_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if _error_code(exc) not in ("NoSuchKey", "404"):
            raise StorageError(f"{label}: release of s3://{bucket}/{key} failed: "
                               f"{_error_code(exc) or type(exc).__name__}") from exc
