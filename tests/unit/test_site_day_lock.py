"""The site-day lock excludes a second holder across processes, on local storage and on a real
S3-protocol server (moto, conditional puts), and a dead holder does not block for ever."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from datetime import date

import pytest

from bv_store.site_day_lock import SiteDayLockTimeout, lock_key, site_day_lock
from bv_store.storage import S3Storage, Storage

DAY = date(2025, 6, 3)


def _hold(url: str, endpoint: str | None, log_path: str, tag: str, hold_s: float) -> None:
    storage = Storage.from_url(url, s3_endpoint_url=endpoint)
    with site_day_lock(storage, "s", DAY, what=tag, wait_s=30, ttl_s=4):
        with open(log_path, "a") as log:
            log.write(f"{tag} in {time.monotonic()}\n")
        time.sleep(hold_s)
        with open(log_path, "a") as log:
            log.write(f"{tag} out {time.monotonic()}\n")


def test_two_processes_never_hold_the_same_site_day(storage, tmp_path):
    endpoint = getattr(storage, "endpoint_url", None)
    log = tmp_path / "holders.log"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(storage.url, endpoint, str(log), f"w{i}", 0.5)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    events = [line.split() for line in log.read_text().splitlines()]
    assert len(events) == 6
    # In time order the holders alternate in/out: never two inside at once.
    order = [(float(t), tag, kind) for tag, kind, t in events]
    order.sort()
    inside = 0
    for _, _, kind in order:
        inside += 1 if kind == "in" else -1
        assert inside in (0, 1), order
    if isinstance(storage, S3Storage):
        assert not storage.exists(lock_key("s", DAY))  # released


def test_a_busy_lock_times_out_naming_the_holder(local_storage):
    with site_day_lock(local_storage, "s", DAY, what="first"):
        with pytest.raises(SiteDayLockTimeout, match="s 2025-06-03.*first"):
            with site_day_lock(local_storage, "s", DAY, what="second", wait_s=0.3):
                pass


@pytest.mark.s3
def test_a_dead_local_holders_s3_lease_is_taken_over_at_once(s3_storage):
    ctx = mp.get_context("spawn")
    # The holder is SIGKILLed while holding (no release): its lease stays until it expires.
    holder = ctx.Process(target=_hold, args=(s3_storage.url, s3_storage.endpoint_url, "/dev/null", "dead", 60))
    holder.start()
    deadline = time.monotonic() + 30
    while not s3_storage.exists(lock_key("s", DAY)):
        assert time.monotonic() < deadline, "the holder never took the lease"
        time.sleep(0.05)
    holder.kill()
    holder.join()
    killed = time.monotonic()
    with site_day_lock(s3_storage, "s", DAY, what="next", wait_s=20, ttl_s=4) as held:
        took_s = time.monotonic() - killed
    # Its pid is gone on this machine: taken over without waiting for the TTL (4 s).
    assert 0 < held.waited_s and took_s < 3, took_s


@pytest.mark.s3
def test_another_machines_s3_lease_blocks_until_it_expires(s3_storage):
    expires = time.time() + 1.5
    lease = {"owner": "x", "what": "elsewhere", "host": "another-machine", "pid": 1, "expires_at": expires}
    s3_storage._client.put_object(Bucket=s3_storage.bucket, Key=s3_storage._key(lock_key("s", DAY)),
                                  Body=json.dumps(lease).encode())
    with pytest.raises(SiteDayLockTimeout, match="another-machine"):
        with site_day_lock(s3_storage, "s", DAY, wait_s=0.5):
            pass
    with site_day_lock(s3_storage, "s", DAY, what="next", wait_s=10) as held:
        assert time.time() >= expires  # taken over only once expired
    assert held.waited_s > 0.5
    assert not s3_storage.exists(lock_key("s", DAY))
