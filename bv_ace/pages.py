"""Decoding of ACE pages: API times, timeseries pages into Arrow batches, listing envelopes."""

from __future__ import annotations

import json
import math
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from bv_ace.errors import AceProtocolError
from bv_ace.transport import Transient, where
from bv_store.schemas import RAW_SCHEMA

RAW_SAMPLE_SCHEMA = RAW_SCHEMA  # name, value, time: all strings, as ACE sends them

LIST_PER_PAGE_ALLOWED = (2, 10, 20, 30, 40, 50, 100, 500, 1000, 5000, 10000, 100000)
PAGE_SIZE_ALLOWED = (3, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000, 300000, 500000)


def format_api_time(dt: datetime, *, ceil: bool = False) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC; naive = UTC. Sub-seconds floored (or ceiled: use
    `ceil=True` for a window's end, so no sample of the window is lost)."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    else:
        dt = dt.astimezone(timezone.utc)
    if dt.microsecond:
        dt = dt.replace(microsecond=0)
        if ceil:
            dt += timedelta(seconds=1)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class JsonNumberText:
    """A JSON number the strict parser refused (`NaN`, `Infinity`, `1e999`), kept as its text
    so the value rule decides it (`nan`, `non_finite`); never a name or a time."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _float_or_text(text: str) -> Any:
    number = float(text)
    return number if math.isfinite(number) else JsonNumberText(text)


def loads_lenient(content: bytes) -> Any:
    """JSON as Python's json reads it (NaN/Infinity literals, numbers past a double), with
    those non-finite numbers kept as JsonNumberText. Raises ValueError/RecursionError."""
    return json.loads(content, parse_constant=JsonNumberText, parse_float=_float_or_text)


def _value_text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, JsonNumberText):
        return v.text
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)  # past 64 bits too (the lenient path keeps big integers exact)
    if isinstance(v, float):
        return repr(v)  # non-finite: "nan", "inf", "-inf", the value rule's words
    try:
        return orjson.dumps(v).decode()
    except TypeError:  # lists/objects holding big integers or JsonNumberText
        return json.dumps(v, default=lambda o: o.text if isinstance(o, JsonNumberText) else repr(o))


def samples_to_batch(samples: list) -> pa.RecordBatch:
    """`point_samples` (list of {"name","value","time"}) -> RecordBatch of RAW_SAMPLE_SCHEMA.

    Column-wise: three list comprehensions and three Arrow string arrays. A missing or null
    value is null; a non-string value (not in the contract, but cheap to tolerate) becomes
    its JSON text ("71.0", "true"). A sample without a string name or time is a ValueError
    (the caller wraps it into an AceProtocolError).
    """
    try:
        names = [s["name"] for s in samples]
        times = [s["time"] for s in samples]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a point sample lacks 'name' or 'time' ({type(exc).__name__}: {exc})") from None
    values = [s.get("value") for s in samples]
    try:
        name_arr = pa.array(names, pa.string())
        time_arr = pa.array(times, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise ValueError(f"a point sample has a non-string 'name' or 'time' ({str(exc)[:200]})") from None
    except UnicodeEncodeError as exc:
        raise ValueError(f"a point sample's 'name' or 'time' is not valid Unicode text ({exc.reason})") from None
    if name_arr.null_count or time_arr.null_count:
        raise ValueError("a point sample has a null 'name' or 'time'")
    try:
        value_arr = pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        try:
            value_arr = pa.array([_value_text(v) for v in values], pa.string())
        except (UnicodeEncodeError, TypeError) as exc:
            raise ValueError(f"a point sample's 'value' cannot be kept as text ({exc})") from None
    except UnicodeEncodeError as exc:
        raise ValueError(f"a point sample's 'value' is not valid Unicode text ({exc.reason})") from None
    return pa.RecordBatch.from_arrays([name_arr, value_arr, time_arr], schema=RAW_SAMPLE_SCHEMA)


_SAMPLE_STRUCT = pa.struct(list(RAW_SAMPLE_SCHEMA))
_PAGE_SCHEMA = pa.schema(
    [("point_samples", pa.list_(_SAMPLE_STRUCT)), ("next_cursor", pa.string()), ("has_more", pa.bool_())]
)
_PAGE_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=_PAGE_SCHEMA, unexpected_field_behavior="ignore")


class TimeseriesPage:
    """One parsed timeseries page: the samples as a batch (None when empty) and the paging fields."""

    __slots__ = ("batch", "samples", "next_cursor", "has_more", "fingerprint")

    def __init__(self, batch: pa.RecordBatch | None, next_cursor: Any, has_more: Any, fingerprint: bytes = b""):
        self.batch = batch
        self.samples = 0 if batch is None else batch.num_rows
        self.next_cursor = next_cursor
        self.has_more = has_more
        self.fingerprint = fingerprint  # the body without its cursor: the same page sent again matches


def _fingerprint(content: bytes, next_cursor: Any) -> bytes:
    """Digest of a non-empty page's body with its cursor taken out, so the same samples
    re-sent under a fresh cursor are recognised (the stream's repeat guard).

    CRC-32 over the body's pieces between the cursor's occurrences, plus the length kept:
    no copy of a multi-MB body and about 5x cheaper than a cryptographic hash. This is a
    loop guard, not an integrity check: a false match needs MAX_PAGE_REPEATS + 1 pages of
    one window sharing a 32-bit value and a length, and could only fail a run, loudly."""
    view = memoryview(content)
    pieces = [view]
    if isinstance(next_cursor, str) and next_cursor:
        try:
            needle = next_cursor.encode()
        except UnicodeEncodeError:
            needle = b""
        if needle:
            pieces, at = [], 0
            while (hit := content.find(needle, at)) >= 0:
                pieces.append(view[at:hit])
                at = hit + len(needle)
            pieces.append(view[at:])
    crc, kept = 0, 0
    for piece in pieces:
        crc = zlib.crc32(piece, crc)
        kept += len(piece)
    return kept.to_bytes(8, "little") + crc.to_bytes(4, "little")


def _parse_page_arrow(content: bytes) -> TimeseriesPage | None:
    """Fast path: Arrow's JSON reader straight into string columns, no Python objects per
    sample. Returns None whenever the body is anything but a clean, contract-shaped page
    (invalid JSON, non-string values, a missing name/time, ...): the orjson path then
    decides, with a precise error."""
    try:
        table = pa_json.read_json(
            pa.BufferReader(content),
            read_options=pa_json.ReadOptions(block_size=max(len(content) + 1, 1 << 20)),
            parse_options=_PAGE_PARSE_OPTIONS,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != 1:
        return None
    col = table.column("point_samples")
    if col.null_count:
        return None
    structs = col.combine_chunks().flatten() if col.num_chunks != 1 else col.chunk(0).flatten()
    if structs.null_count:
        return None
    name, value, ts = structs.flatten()
    if name.null_count or ts.null_count:
        return None
    next_cursor = table.column("next_cursor")[0].as_py()
    has_more = table.column("has_more")[0].as_py()
    batch = None
    if len(structs):
        batch = pa.RecordBatch.from_arrays([name, value, ts], schema=RAW_SAMPLE_SCHEMA)
        return TimeseriesPage(batch, next_cursor, has_more, _fingerprint(content, next_cursor))
    return TimeseriesPage(batch, next_cursor, has_more)


def parse_timeseries_page(content: bytes) -> TimeseriesPage:
    """A timeseries page body -> TimeseriesPage.

    Raises `Transient` (retryable; `broken_body` when the JSON is invalid, e.g. truncated)
    for a body that is not JSON or has no `point_samples` list, and ValueError for samples
    that break the contract (no name/time). `NaN`/`Infinity` literals and numbers past a
    double (JSON they are not, but servers emit them) are read, their text kept as the
    value for the value rule to count.
    """
    page = _parse_page_arrow(content)
    if page is not None:
        return page
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        try:
            body = loads_lenient(content)
        except (ValueError, RecursionError):
            raise Transient(f"timeseries body of {len(content)} bytes is not valid JSON ({exc})",
                            broken_body=True) from None
    if not isinstance(body, dict) or not isinstance(body.get("point_samples"), list):
        what = type(body).__name__ if not isinstance(body, dict) else f"keys {sorted(body)[:10]}"
        raise Transient(f"timeseries page without a point_samples list ({what})")
    samples = body["point_samples"]
    if not samples:
        return TimeseriesPage(None, body.get("next_cursor"), body.get("has_more"))
    return TimeseriesPage(samples_to_batch(samples), body.get("next_cursor"), body.get("has_more"),
                          _fingerprint(content, body.get("next_cursor")))


def parse_listing_page(body: Any, *, site: str | None, endpoint: str, page: int) -> tuple[list[dict], int]:
    """A listing body ({page, pages, per_page, total, items}) -> (items, pages).
    Anything else is an AceProtocolError."""
    if not isinstance(body, dict):
        raise AceProtocolError(
            f"ACE {endpoint} {where(site, endpoint)} returned a {type(body).__name__}, "
            "not the {page, pages, per_page, total, items} envelope",
            site=site, endpoint=endpoint,
        )
    items = body.get("items")
    pages = body.get("pages")
    if not isinstance(items, list) or not isinstance(pages, int) or isinstance(pages, bool):
        raise AceProtocolError(
            f"ACE listing {where(site, endpoint)} page {page}: malformed envelope "
            f"(items is {type(items).__name__}, pages is {type(pages).__name__}; "
            f"keys {sorted(body)[:10]})",
            site=site, endpoint=endpoint,
        )
    bad = next((it for it in items if not isinstance(it, dict)), None)
    if bad is not None:
        raise AceProtocolError(
            f"ACE listing {where(site, endpoint)} page {page}: an item is a "
            f"{type(bad).__name__}, not an object", site=site, endpoint=endpoint,
        )
    return items, pages
