"""Storage failing under a real writer (archive build → publish): S3 answering 500, 503 and
SlowDown or going away mid-upload (a fault proxy in front of the moto server), and a local
disk filling up (a small tmpfs, root only).

Each time: a bounded number of attempts in a bounded time (bv_store.storage: S3_MAX_ATTEMPTS,
s3_backoff_bound_s), then one loud StorageError naming the key (and the S3 code or the path),
the previous archive byte-identical, no scratch or temp file left, nothing partial visible.
A transient 503 is absorbed by the retries. Budget: ≤ 60 s.
"""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
import time
from datetime import date, datetime, timezone

import pyarrow.parquet as pq
import pytest
from support.s3_fault_proxy import S3FaultProxy

from bv_ace.client import AceClient
from bv_pipeline.archive_build import build_archive
from bv_pipeline.catalog_refresh import refresh_catalog
from bv_pipeline.raw_ingest import ingest_site_day
from bv_sim.clock import SimClock
from bv_sim.sites import SiteSpec
from bv_store.catalog import read_catalog_names
from bv_store.layout import archive_key
from bv_store.storage import (
    S3_CONNECT_TIMEOUT_S, S3_MAX_ATTEMPTS, S3_READ_TIMEOUT_S, TEMP_MARK, LocalStorage, S3Storage, Storage,
    StorageError, StorageWriteError, s3_backoff_bound_s, s3_client, s3_worst_case_s,
)

SITE = "fault_site"
DAY = date(2025, 6, 3)
AKEY = archive_key(SITE, DAY)
# Time beyond botocore's sleeps between the first and the last attempt, per attempt: the
# attempts themselves (a small PUT on loopback), on a busy machine.
ATTEMPT_SLACK_S = 0.5


def _at(hour: int) -> datetime:
    return datetime(2025, 6, 3, hour, tzinfo=timezone.utc)


@pytest.fixture
def fault_sim(make_ace_sim):
    return make_ace_sim(sites=[SiteSpec(name=SITE, client="bvfault", n_points=20, interval_s=60)],
                        clock=SimClock(fixed=_at(12)))


def _client(sim, token) -> AceClient:
    return AceClient(sim.base_url, token, max_retries=1, backoff_base_s=0.05, backoff_max_s=0.1)


def _previous_archive_then_late_raw(sim, token, storage: Storage) -> tuple[bytes, list[str]]:
    """The day archived at noon (the previous archive), then its whole raw day ingested: the
    next archive build would replace the file with more rows. Returns the previous bytes."""
    with _client(sim, token) as client:
        refresh_catalog(client, storage, SITE)
        names = read_catalog_names(storage, SITE)
        ingest_site_day(client, storage, SITE, DAY)
        build_archive(storage, SITE, DAY, names)
        sim.clock.set(datetime(2025, 6, 4, 1, tzinfo=timezone.utc))
        ingest_site_day(client, storage, SITE, DAY)
    return storage.read_bytes(AKEY), names


# --- S3 -----------------------------------------------------------------------------------

@pytest.fixture
def s3_setup(fault_sim, sim_token, s3_storage, s3_server, tmp_path, monkeypatch):
    """(direct storage, proxy, previous archive bytes, catalog names, scratch folder)."""
    previous, names = _previous_archive_then_late_raw(fault_sim, sim_token, s3_storage)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # S3 scratch files are local temp files
    proxy = S3FaultProxy(s3_server).start()
    yield s3_storage, proxy, previous, names, scratch
    proxy.stop()


def _via(proxy: S3FaultProxy, direct: S3Storage, max_attempts: int = S3_MAX_ATTEMPTS) -> S3Storage:
    return S3Storage(direct.bucket, direct.prefix, endpoint_url=proxy.url,
                     client=s3_client(proxy.url, max_attempts=max_attempts))


def _assert_untouched(direct: S3Storage, previous: bytes, scratch) -> None:
    assert direct.read_bytes(AKEY) == previous, "the previous archive changed"
    assert [k for k in direct.list("archive/")] == [AKEY], "something else appeared under archive/"
    assert list(scratch.iterdir()) == [], f"scratch files left: {list(scratch.iterdir())}"


S3_REFUSALS = [
    pytest.param(500, "InternalError", False, id="500"),
    pytest.param(503, "ServiceUnavailable", False, id="503"),
    pytest.param(503, "SlowDown", True, id="SlowDown"),
]


@pytest.mark.parametrize("status,code,throttled", S3_REFUSALS)
def test_s3_refusing_every_put_fails_loudly_after_bounded_retries(s3_setup, reliability, status, code, throttled):
    direct, proxy, previous, names, scratch = s3_setup
    proxy.fail(status, code, method="PUT", path_contains="/archive/")
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        build_archive(_via(proxy, direct), SITE, DAY, names)
    elapsed = time.monotonic() - started
    message = str(info.value)

    attempts = proxy.count(method="PUT", path_contains="/archive/")
    assert attempts == S3_MAX_ATTEMPTS, f"{attempts} PUT attempts, the bound is {S3_MAX_ATTEMPTS}"
    assert proxy.count(method="PUT", path_contains="/archive/", outcome=f"injected {status}") == attempts
    bound = s3_backoff_bound_s(S3_MAX_ATTEMPTS, throttled=throttled)
    span = proxy.span_s(method="PUT", path_contains="/archive/")
    assert span <= bound + ATTEMPT_SLACK_S * attempts, f"retries spanned {span:.2f} s, the sleeps are bounded at {bound:.2f} s"
    assert AKEY in message and code in message and f"after {S3_MAX_ATTEMPTS} attempts" in message, message
    assert "testing-secret" not in message and "testing-key-id" not in message
    _assert_untouched(direct, previous, scratch)
    reliability.record(
        fault=f"S3 answers {status} {code} to every PUT of the archive file",
        component="storage (S3) under archive build",
        system_did=f"{attempts} attempts over {span:.2f} s (sleep bound {bound:.2f} s; whole build {elapsed:.2f} s), "
                   f"then StorageError: {message.replace(direct.bucket, '<bucket>')}",
        lost="nothing: previous archive byte-identical, no scratch file left, nothing partial listed",
    )


def test_s3_transient_503_is_absorbed_by_the_retries(s3_setup, reliability):
    direct, proxy, previous, names, scratch = s3_setup
    proxy.fail(503, "ServiceUnavailable", times=2, method="PUT", path_contains="/archive/")
    started = time.monotonic()
    result = build_archive(_via(proxy, direct), SITE, DAY, names)
    elapsed = time.monotonic() - started
    attempts = proxy.count(method="PUT", path_contains="/archive/")
    assert attempts == 3 and proxy.count(method="PUT", outcome="injected 503") == 2
    stored = direct.read_bytes(AKEY)
    assert stored != previous and result.previous_rows < result.archived_rows
    with direct.local_copy(AKEY) as path:
        assert pq.read_table(path).num_rows == result.archived_rows
    assert list(scratch.iterdir()) == []
    reliability.record(
        fault="S3 answers 503 to the first 2 PUTs of the archive file",
        component="storage (S3) under archive build",
        system_did=f"absorbed: {attempts} attempts, published in {elapsed:.2f} s "
                   f"({result.previous_rows} → {result.archived_rows} rows)",
        lost="nothing",
    )


def test_s3_gone_mid_upload_fails_loudly(s3_setup, reliability):
    direct, proxy, previous, names, scratch = s3_setup
    proxy.cut(method="PUT", path_contains="/archive/", after_bytes=256, then_stop=True)
    store = _via(proxy, direct)
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        build_archive(store, SITE, DAY, names)
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert not proxy.listening and proxy.count(outcome="cut") == 1
    assert AKEY in message and ("Connection" in message or "Endpoint" in message), message
    bound = s3_backoff_bound_s(S3_MAX_ATTEMPTS, throttled=False)
    assert elapsed <= bound + ATTEMPT_SLACK_S * S3_MAX_ATTEMPTS + 10, f"{elapsed:.2f} s for the whole build"
    _assert_untouched(direct, previous, scratch)
    reliability.record(
        fault="S3 server stops mid-upload (connection dropped inside the archive PUT body, then no listener)",
        component="storage (S3) under archive build",
        system_did=f"retried (connection refused after the cut), failed after {elapsed:.2f} s with "
                   f"StorageError: {message.replace(direct.bucket, '<bucket>')}",
        lost="nothing: previous archive byte-identical, no object from the cut upload, no scratch file left",
    )


# --- local disk full --------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs mounted at a fresh folder (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
        if os.path.ismount(mount):
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(mount, leave_bytes: int) -> None:
    """Fill the filesystem until at most `leave_bytes` are free."""
    with open(mount / "filler", "ab") as out:
        chunk = b"\0" * 65536
        while True:
            free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
            if free <= leave_bytes:
                break
            try:
                out.write(chunk[: max(4096, min(len(chunk), free - leave_bytes))])
                out.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break


def _assert_no_debris(storage: LocalStorage) -> None:
    scratch = storage.root / ".scratch"
    left = [p for p in scratch.rglob("*") if p.is_file()] if scratch.exists() else []
    assert left == [], f"scratch files left: {left}"
    temps = [p for p in storage.root.rglob("*") if TEMP_MARK in p.name]
    assert temps == [], f"temp files left: {temps}"


@pytest.mark.parametrize("where", ["scratch", "destination"])
def test_disk_full_fails_loudly_and_keeps_the_previous_archive(small_disk, fault_sim, sim_token, tmp_path,
                                                               reliability, where):
    storage = Storage.from_url(str(small_disk / "storage"))
    previous, names = _previous_archive_then_late_raw(fault_sim, sim_token, storage)
    # The size of the file the build would publish, from the same build elsewhere.
    elsewhere = Storage.from_url(str(tmp_path / "elsewhere"))
    for key in storage.list(""):
        with storage.local_copy(key) as path:
            elsewhere.put_file(path, key)
    new_size = build_archive(elsewhere, SITE, DAY, names).file_bytes
    # "scratch": no room for the new file at all; "destination": room for the scratch file
    # but not for its copy next to the archive.
    _fill(small_disk, 0 if where == "scratch" else new_size + new_size // 2)

    with pytest.raises(StorageWriteError) as info:
        build_archive(storage, SITE, DAY, names)
    message = str(info.value)
    assert info.value.errno == errno.ENOSPC, message
    assert AKEY in message, message
    if where == "scratch":
        assert str(storage.root / ".scratch") in message, message
    else:
        assert f"{storage.root / AKEY.rsplit('/', 1)[0]}/.data.parquet{TEMP_MARK}" in message, message
    assert storage.read_bytes(AKEY) == previous
    assert storage.list("archive/") == [AKEY]
    _assert_no_debris(storage)
    reliability.record(
        fault=f"local disk full (4 MiB tmpfs) while writing the archive's {where} file",
        component="storage (local folder) under archive build",
        system_did=f"StorageWriteError (ENOSPC): {message.replace(str(small_disk), '<tmpfs>')}",
        lost="nothing: previous archive byte-identical; .scratch and destination temp files removed",
    )


def test_the_retry_bound_and_its_time_are_explicit():
    """The client every S3Storage builds: 5 attempts in all (botocore's `max_attempts` would
    have made 6), standard mode, bounded timeouts; and the sleep bounds the tests above use."""
    config = s3_client("http://127.0.0.1:1").meta.config
    assert config.retries == {"total_max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (S3_CONNECT_TIMEOUT_S, S3_READ_TIMEOUT_S)
    assert S3_MAX_ATTEMPTS == 5
    assert s3_backoff_bound_s(5, throttled=False) == pytest.approx(0.05 + 0.1 + 0.2 + 0.4)
    assert s3_backoff_bound_s(5, throttled=True) == pytest.approx(1 + 2 + 4 + 8)
    assert s3_worst_case_s(5) == pytest.approx(15 + 4 * 5 + 5 * (S3_CONNECT_TIMEOUT_S + S3_READ_TIMEOUT_S))
