"""Reading one HTTP body from ACE within bounds: decoded size, time, and encodings we know.

httpx would inflate a gzip body with no limit (a few KB on the wire can become GBs in
memory), so the client asks for the raw bytes and inflates them itself, at most
INFLATE_STEP bytes per call, counting as it goes: a body past `cap` decoded bytes stops
there. Between chunks the deadline is checked, so a body that drips in a byte at a time
cannot outlive its window's time budget.
"""

from __future__ import annotations

import time
import zlib
from typing import Iterable, Iterator

import httpx

INFLATE_STEP = 1 << 20  # decoded bytes per inflate call: the most a single step can overshoot
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyTooLarge(Exception):
    """The decoded body passed the cap (not retried: the same request gives the same body)."""


class BodyOutOfTime(Exception):
    """The deadline passed while the body was arriving."""


class BodyBroken(Exception):
    """The body cannot be decoded (a corrupt or cut-off gzip stream): retryable."""


class BodyEncodingUnknown(Exception):
    """A Content-Encoding this client did not ask for and cannot decode."""


def _inflate(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """Inflate one Content-Encoding layer in bounded steps."""
    wbits = _WBITS[encoding]
    d = zlib.decompressobj(wbits)
    started = False
    for chunk in chunks:
        data = chunk
        while data and not d.eof:
            try:
                out = d.decompress(data, INFLATE_STEP)
            except zlib.error as exc:
                if encoding == "deflate" and not started:  # some servers send raw deflate
                    d = zlib.decompressobj(-zlib.MAX_WBITS)
                    started = True
                    continue
                raise BodyBroken(f"{encoding} body is corrupt ({exc})") from None
            started = True
            if out:
                yield out
            data = d.unconsumed_tail
    try:
        while not d.eof:  # output zlib still holds after the last input
            out = d.decompress(b"", INFLATE_STEP)
            if not out:
                break
            yield out
    except zlib.error as exc:
        raise BodyBroken(f"{encoding} body is corrupt ({exc})") from None
    if not d.eof:
        raise BodyBroken(f"{encoding} body ended before its end marker (cut off)")


def decoded_chunks(resp: httpx.Response) -> Iterator[bytes]:
    """The body of a streamed response, Content-Encoding undone (layers in reverse order)."""
    if resp.is_stream_consumed:
        # Built in memory (httpx.MockTransport in tests): httpx has read and decoded it already.
        return iter([resp.content])
    chunks: Iterable[bytes] = resp.iter_raw()
    header = resp.headers.get("content-encoding", "")
    layers = [e.strip().lower() for e in header.split(",") if e.strip()]
    for encoding in reversed(layers):
        if encoding == "identity":
            continue
        if encoding not in _WBITS:
            raise BodyEncodingUnknown(f"Content-Encoding {header!r} is not one this client asked for "
                                      f"({ACCEPT_ENCODING})")
        chunks = _inflate(chunks, encoding)
    return iter(chunks)


def read_body(resp: httpx.Response, *, cap: int, deadline: float | None, truncate: bool = False) -> bytes:
    """The decoded body, at most `cap` bytes. Past the cap: BodyTooLarge, or (`truncate`,
    for error bodies read only for their message) the first `cap` bytes. Past the
    deadline (time.monotonic()): BodyOutOfTime."""
    parts: list[bytes] = []
    total = 0
    for piece in decoded_chunks(resp):
        total += len(piece)
        if total > cap:
            if truncate:
                parts.append(piece[: len(piece) - (total - cap)])
                break
            raise BodyTooLarge(f"body passed {cap:,} bytes decoded"
                               f"{' (Content-Encoding ' + resp.headers['content-encoding'] + ')' if 'content-encoding' in resp.headers else ''}")
        parts.append(piece)
        if deadline is not None and time.monotonic() > deadline:
            raise BodyOutOfTime(f"body still arriving after {total:,} bytes when the time budget ran out")
    return b"".join(parts)
