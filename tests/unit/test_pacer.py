"""RequestPacer: even spacing and the concurrency cap, on a fake clock (no wall-clock timing)."""

from __future__ import annotations

import math
import threading

import pytest

from bv_ace.pacer import RequestPacer


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, s: float) -> None:
        with self._lock:
            self.sleeps.append(s)
            self.t = max(self.t, self.t + s)


def test_evenly_spaced_at_the_configured_rate():
    clock = FakeClock()
    pacer = RequestPacer(60, 4, clock=clock, sleep=clock.sleep)  # one per second
    starts = []
    for _ in range(5):
        with pacer.slot():
            starts.append(clock())
    assert starts == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]
    assert clock.sleeps == [1.0, 1.0, 1.0, 1.0]
    assert pacer.granted == 5


def test_idle_time_is_not_banked_into_a_burst():
    clock = FakeClock()
    pacer = RequestPacer(120, 4, clock=clock, sleep=clock.sleep)  # every 0.5 s
    with pacer.slot():
        pass
    clock.t += 10  # idle for a long time
    with pacer.slot():
        pass
    with pacer.slot():
        pass
    assert clock.sleeps == [0.5]


def test_no_wait_when_requests_are_slower_than_the_rate():
    clock = FakeClock()
    pacer = RequestPacer(600, 2, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        with pacer.slot():
            clock.t += 0.2  # each request takes longer than the 0.1 s spacing
    assert clock.sleeps == []


def test_unlimited_rate_never_sleeps():
    clock = FakeClock()
    pacer = RequestPacer(math.inf, 1, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        with pacer.slot():
            pass
    assert clock.sleeps == []


def test_threads_share_the_schedule():
    clock = FakeClock()
    pacer = RequestPacer(60, 8, clock=clock, sleep=lambda s: None)  # clock frozen: turns are booked, not slept
    waits = []
    lock = threading.Lock()
    orig = pacer._reserve_turn

    def record():
        w = orig()
        with lock:
            waits.append(w)
        return w

    pacer._reserve_turn = record
    def call():
        with pacer.slot():
            pass

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    # Six callers at the same instant get six distinct, evenly spaced turns.
    assert sorted(waits) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_concurrency_cap_blocks_until_a_slot_is_released():
    clock = FakeClock()
    pacer = RequestPacer(math.inf, 2, clock=clock, sleep=clock.sleep)
    entered = threading.Event()
    release = threading.Event()

    def third():
        with pacer.slot():
            entered.set()

    with pacer.slot(), pacer.slot():
        assert pacer.in_use == 2
        t = threading.Thread(target=third, daemon=True)
        t.start()
        assert not entered.wait(0.2)  # the third caller is held back (no timing assertion, just "not yet")
        release.set()
    t.join(5)
    assert entered.is_set()
    assert pacer.in_use == 0


def test_slot_released_on_error():
    pacer = RequestPacer(math.inf, 1)
    with pytest.raises(RuntimeError):
        with pacer.slot():
            raise RuntimeError("boom")
    assert pacer.in_use == 0
    with pacer.slot():
        assert pacer.in_use == 1


@pytest.mark.parametrize("rpm,conc", [(0, 1), (-5, 1), (60, 0), (60, 1.5)])
def test_bad_config_is_rejected(rpm, conc):
    with pytest.raises(ValueError):
        RequestPacer(rpm, conc)
