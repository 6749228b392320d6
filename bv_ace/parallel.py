"""Several timeseries streams read at once: one thread per stream, batches taken in turn.

The source works on the next page of one window while we decode a page of another, so
the day's wall time is closer to the slower of the two sides than to their sum. Bounds:
- one thread per stream, and the client's pacer (`max_concurrency`, `requests_per_minute`)
  still gates every request, so the source never sees more than the client allows;
- each stream may run at most QUEUE_DEPTH batches ahead of the caller: memory is a few
  pages per stream, not a window;
- the first error of any stream is raised to the caller ahead of batches already waiting;
  the other streams are told to stop after the request they are in and given up to
  JOIN_AFTER_ERROR_S to get there, so a token ACE rejected in another window meanwhile is
  the error raised (the run then fails as an auth error, without retries); a stream still
  in a request after that is left to end on its own (daemon thread; its client is closed
  by its owner).
Batches come out in turn, one of each unfinished stream per round (stream 0, 1, 2, 0, ...),
not as they happen to arrive: the same answers from the source give the same sequence,
so a file written from it is the same file on every run.
Each stream keeps its own cursor, retries, window budget and page cap (`TimeseriesStream`).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Iterable, Iterator

import pyarrow as pa

from bv_ace.errors import AceAuthError

QUEUE_DEPTH = 1  # batches a stream may have waiting for the caller (plus the one it is fetching)
_POLL_S = 0.05  # how often a blocked side looks at the stop flag / the errors
JOIN_AFTER_ERROR_S = 2.0  # how long the other streams get to finish their request after an error


class _Finished:
    """Queue marker: a stream ended normally."""


_FINISHED = _Finished()


def iterate_concurrently(streams: list[Iterable[pa.RecordBatch]]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(stream index, batch) pairs from every stream, reading them all at once and handing
    them out in turn. One stream is read in the calling thread, with no thread at all."""
    if len(streams) == 1:
        for batch in streams[0]:
            yield 0, batch
        return
    waiting = [queue.Queue(maxsize=QUEUE_DEPTH) for _ in streams]
    stop = threading.Event()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def offer(index: int, item) -> bool:
        while not stop.is_set():
            try:
                waiting[index].put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def work(index: int, stream: Iterable[pa.RecordBatch]) -> None:
        try:
            for batch in stream:
                if not offer(index, batch):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            with lock:
                errors.append(exc)
            stop.set()
            return
        offer(index, _FINISHED)

    threads = [threading.Thread(target=work, args=(i, s), name=f"ace-window-{i}", daemon=True)
               for i, s in enumerate(streams)]
    for thread in threads:
        thread.start()
    active = list(range(len(streams)))
    try:
        while active:
            for index in list(active):
                item = _next_item(waiting[index], errors, lock)
                if item is _FINISHED:
                    active.remove(index)
                    continue
                yield index, item
        _raise_first(errors, lock)
    except Exception as exc:
        stop.set()
        _join(threads, JOIN_AFTER_ERROR_S)  # their errors too: a rejected token outranks the rest
        ranked = _ranked_first(errors, lock)
        if ranked is not None and ranked is not exc:
            raise ranked from exc  # the first error stays in the traceback
        raise
    finally:
        stop.set()  # on an error or an early close: the other workers stop after their request
    _join(threads, None)


def _join(threads: list[threading.Thread], within_s: float | None) -> None:
    deadline = None if within_s is None else time.monotonic() + within_s
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))


def _next_item(waiting: queue.Queue, errors: list[BaseException], lock: threading.Lock):
    while True:
        _raise_first(errors, lock)
        try:
            return waiting.get(timeout=_POLL_S)
        except queue.Empty:
            continue


def _ranked_first(errors: list[BaseException], lock: threading.Lock) -> BaseException | None:
    """The error to raise: a rejected token outranks whatever another window ran into."""
    with lock:
        return next((e for e in errors if isinstance(e, AceAuthError)), errors[0] if errors else None)


def _raise_first(errors: list[BaseException], lock: threading.Lock) -> None:
    first = _ranked_first(errors, lock)
    if first is not None:
        raise first
