"""A site-day fetched as several windows at once (bv_ace.parallel + bv_pipeline.day_parts),
against the real HTTP simulator: the same raw samples as one stream, and every error of any
window raised at once, naming the site, the endpoint and that window, nothing published."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from datetime import date

import pyarrow.parquet as pq
import pytest

from bv_ace.client import AceClient
from bv_ace.errors import AceAuthError, AceRetriesExhausted
from bv_ace.parallel import JOIN_AFTER_ERROR_S, iterate_concurrently
from bv_pipeline.raw_ingest import ingest_site_day
from bv_sim.faults import FaultConfig
from bv_store.layout import raw_key
from bv_store.storage import Storage

SITE = "demo_office"
DAY = date(2025, 6, 3)


class Sleeps(list):
    def __call__(self, s: float) -> None:
        self.append(s)


def client_for(sim, token, **kwargs) -> AceClient:
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("requests_per_minute", math.inf)
    kwargs.setdefault("backoff_base_s", 0.01)
    kwargs.setdefault("timeout_s", 10)
    return AceClient(sim.base_url, token, **kwargs)


def raw_rows(storage: Storage) -> list[tuple]:
    with storage.local_copy(raw_key(SITE, DAY)) as path:
        table = pq.read_table(path)
    return list(zip(*(table.column(c).to_pylist() for c in ("name", "value", "time"))))


def files_under(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_three_windows_hold_exactly_what_one_stream_holds(ace_sim, sim_token, tmp_path):
    one, three = Storage.from_url(str(tmp_path / "one")), Storage.from_url(str(tmp_path / "three"))
    with client_for(ace_sim, sim_token, page_size=5000, parallel_windows=1) as client:
        single = ingest_site_day(client, one, SITE, DAY)
    with client_for(ace_sim, sim_token, page_size=5000, parallel_windows=3) as client:
        parallel = ingest_site_day(client, three, SITE, DAY)
    assert parallel.stream_stats["windows"] == 3 and single.stream_stats["windows"] == 1
    assert Counter(raw_rows(three)) == Counter(raw_rows(one))  # same samples, each as often
    assert parallel.samples == single.samples > 100_000
    assert (parallel.first_time, parallel.last_time) == (single.first_time, single.last_time)
    assert parallel.points_seen == single.points_seen
    # The windows overlap by a second at each cut: what came twice was trimmed, and counted.
    assert parallel.stream_stats["samples"] == parallel.samples + parallel.stream_stats["trimmed_at_cuts"]
    assert parallel.metadata()["ace_windows"] == 3
    assert parallel.metadata()["ace_trimmed_at_cuts"] == parallel.stream_stats["trimmed_at_cuts"]
    # Pages are taken from the windows in turn, not as they arrive: a re-run writes the same file.
    again = Storage.from_url(str(tmp_path / "again"))
    with client_for(ace_sim, sim_token, page_size=5000, parallel_windows=3) as client:
        ingest_site_day(client, again, SITE, DAY)
    assert raw_rows(again) == raw_rows(three)


def test_parallel_windows_are_capped_by_max_concurrency(ace_sim, sim_token):
    with client_for(ace_sim, sim_token, parallel_windows=8, max_concurrency=2) as client:
        assert client.parallel_windows == 2
    with pytest.raises(ValueError, match="parallel_windows"):
        client_for(ace_sim, sim_token, parallel_windows=0)


def test_a_rejected_token_fails_every_window_at_once(make_ace_sim, sim_token, tmp_path):
    sim = make_ace_sim(faults=FaultConfig(reject_token=True))
    storage = Storage.from_url(str(tmp_path))
    sleeps = Sleeps()
    started = time.monotonic()
    with client_for(sim, sim_token, parallel_windows=3, sleep=sleeps) as client:
        with pytest.raises(AceAuthError) as exc:
            ingest_site_day(client, storage, SITE, DAY)
        retried_before_failing = list(sleeps)  # (closing the client may break the other windows' requests)
    assert time.monotonic() - started < 5
    msg = str(exc.value)
    assert SITE in msg and "HTTP 401" in msg and "GET /sites/demo_office/timeseries/paginated" in msg
    assert "window 2025-06-0" in msg and exc.value.window
    assert sim_token not in msg
    assert retried_before_failing == []  # never retried
    assert len([r for r in sim.request_log if r[1].endswith("/timeseries/paginated")]) <= 3
    assert files_under(tmp_path) == []  # nothing published, no scratch left


def test_retries_spent_in_one_window_fail_the_day_naming_that_window(make_ace_sim, sim_token, tmp_path):
    sim = make_ace_sim(faults=FaultConfig(server_error_every=1))
    storage = Storage.from_url(str(tmp_path))
    with client_for(sim, sim_token, parallel_windows=2, max_retries=1) as client:
        with pytest.raises(AceRetriesExhausted) as exc:
            ingest_site_day(client, storage, SITE, DAY)
    assert SITE in str(exc.value) and exc.value.window in str(exc.value)
    assert exc.value.window.startswith("2025-06-0")
    assert files_under(tmp_path) == []


class _Stream:
    """A stream of `n` batches (ints stand in for batches), or one that raises after them,
    or one that blocks until told to stop."""

    def __init__(self, n, error=None, block=None):
        self.n, self.error, self.block = n, error, block

    def __iter__(self):
        yield from range(self.n)
        if self.block is not None:
            self.block.wait(10)
        if self.error is not None:
            raise self.error


def test_concurrent_iteration_takes_the_streams_in_turn():
    got = list(iterate_concurrently([_Stream(5), _Stream(3), _Stream(0)]))
    assert got == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (0, 4)]


def test_an_error_in_one_stream_is_raised_ahead_of_the_others_and_outranked_by_auth():
    release = threading.Event()
    boom = AceAuthError("ACE rejected the API token (HTTP 401)", site=SITE)
    started = time.monotonic()
    with pytest.raises(AceAuthError):
        for _ in iterate_concurrently([_Stream(3, block=release), _Stream(1, error=boom)]):
            pass
    assert time.monotonic() - started < JOIN_AFTER_ERROR_S + 3  # the blocked stream was not waited for
    release.set()


def test_a_rejected_token_in_another_window_outranks_an_error_raised_before_it():
    """Window 1 runs out of retries first; window 0's request, still in flight, then gets a
    401: the day fails as an auth error (not retried), not as the 5xx."""
    exhausted = AceRetriesExhausted("ACE request failed after 4 attempts: HTTP 503", site=SITE)
    rejected = AceAuthError("ACE rejected the API token (HTTP 401)", site=SITE)

    class LateRejection:
        def __iter__(self):
            time.sleep(0.5)  # its first request is in flight when the other window fails
            raise rejected
            yield  # a generator, like a stream

    with pytest.raises(AceAuthError):
        for _ in iterate_concurrently([LateRejection(), _Stream(0, error=exhausted)]):
            pass


def test_a_stream_that_never_ends_delays_an_error_by_the_join_bound_only():
    release = threading.Event()
    boom = RuntimeError("window 1 failed")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="window 1 failed"):
        for _ in iterate_concurrently([_Stream(1, block=release), _Stream(0, error=boom)]):
            pass
    assert time.monotonic() - started < JOIN_AFTER_ERROR_S + 1
    release.set()
