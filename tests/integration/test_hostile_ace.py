"""Hostile ACE: hypothesis-generated answers from a real HTTP server on loopback
(tests/support/hostile_ace.py), fetched by the real client (bv_ace) through the real raw
ingest (bv_pipeline.raw_ingest -> bv_store.publish onto local storage).

Every case ends in one of two ways, checked here:
- data: the raw file holds exactly the samples ACE sent, and the archive transform of it
  agrees row for row with an independent re-statement of the value rule and the strict
  time rule (below, written without bv_pipeline), every dropped sample counted;
- one clear error: a bv_ace error whose message names the site, the window and what was
  wrong, without the API token; no file at the raw key and no scratch file left.
Never a hang: each case runs in a thread joined with a hard limit, and its elapsed time is
asserted against the bound the client sets (window budget, page cap, size cap).

(Over 400 lines on purpose: one file per hostile boundary, its classes share the driver and
the restated rules.)

Budget: the whole file runs in about 30-50 s on a loaded 2-core machine (each slow-drip case
waits out its 2 s window budget). derandomize=True and database=None make the generated cases the same on every run.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bv_ace.client import AceClient
from bv_ace.errors import AceDeadlineExceeded, AceError, AceProtocolError, AceRetriesExhausted
from bv_pipeline.archive_build import transform_raw_table
from bv_pipeline.raw_ingest import ingest_site_day
from bv_store.layout import raw_key
from bv_store.storage import Storage
from support.hostile_ace import (
    POINTS,
    SITE,
    CursorLoop,
    EndlessPages,
    FixedReply,
    HostileAce,
    Listing,
    Pages,
    RawJson,
    RepeatingPage,
    Reply,
    _bomb_reply,
    chain,
    cursor_loops,
    data_pages,
    dumps,
    gzip_bomb_replies,
    html_replies,
    huge_string_pages,
    listing_bodies,
    missing_key_pages,
    non_finite_values,
    odd_times,
    sample,
    slow_drip_replies,
    truncated_replies,
    wrong_type_pages,
)

DAY = date(2025, 6, 3)
WINDOW = ("2025-06-02T23:59:00Z", "2025-06-04T00:01:00Z")  # the day widened by raw_ingest's margin
BUDGET_S = 10.0  # window_budget_s of the client under test: far above what a case needs on a busy machine
DRIP_BUDGET_S = 2.0  # the slow-drip cases wait this out, so it is small
MAX_PAGES = 25
CAP = 4 * 1024 * 1024  # max_response_bytes
SLACK_S = 3.0  # a busy 2-core machine: scheduling, thread start, the publish itself
HARD_S = 30.0  # the join limit that turns a hang into a failure
TOKEN_ENV = "ACE_API_KEY"

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

HYPO = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def token():
    """A throwaway JWT-shaped token, put into the environment the client reads it from."""
    value = ".".join(secrets.token_urlsafe(24) for _ in range(3))
    old = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = value
    yield value
    if old is None:
        os.environ.pop(TOKEN_ENV, None)
    else:
        os.environ[TOKEN_ENV] = old


@pytest.fixture(scope="module")
def ace():
    server = HostileAce().start()
    yield server
    server.stop()


# ------------------------------------------------------------------- the rules, restated
ASCII_WS = " \t\n\r\x0b\x0c"
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?"
                   r"(Z|([+-])([0-9]{2}):?([0-9]{2}))?", re.ASCII)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def value_rule(text: str | None) -> tuple[str, float | None]:
    """README "Value rule": (category, double)."""
    if text is None:
        return "null", None
    t = text.strip(ASCII_WS).lower()
    if t in ("true", "active", "on"):
        return "valid", 1.0
    if t in ("false", "inactive", "off"):
        return "valid", 0.0
    if t in ("nan", "+nan", "-nan"):
        return "nan", None
    if t in ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"):
        return "non_finite", None
    if _NUMBER.fullmatch(t):
        number = float(t)
        return ("valid", number) if math.isfinite(number) else ("non_finite", None)
    return "unparseable", None


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def time_rule(text: str | None) -> int | None:
    """The strict ISO shape (docs/ace-api.md §3) -> epoch µs UTC, or None (a bad time)."""
    if text is None:
        return None
    m = _TIME.fullmatch(text.strip(ASCII_WS).upper())
    if not m:
        return None
    y, mo, d, hh, mi = (int(m.group(i)) for i in range(1, 6))
    ss = int(m.group(6) or 0)
    us = int((m.group(7) or "").ljust(6, "0") or 0)
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if y < 1 or not 1 <= mo <= 12 or not 1 <= d <= _DAYS_IN_MONTH[mo - 1] + (mo == 2 and leap):
        return None
    if hh > 23 or mi > 59 or ss > 59:
        return None
    offset_min = 0
    if m.group(9):
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        offset_min = (oh * 60 + om) * (1 if m.group(9) == "+" else -1)
    seconds = _days_from_civil(y, mo, d) * 86_400 + hh * 3600 + mi * 60 + ss - offset_min * 60
    return seconds * 1_000_000 + us


# ------------------------------------------------------------------------- one case
@dataclass
class Outcome:
    result: object = None
    error: BaseException | None = None
    elapsed_s: float = 0.0
    raw_rows: int = 0
    requests: int = 0


@dataclass
class ClassLog:
    """What one hostile class did over all its generated cases (for the reliability row)."""

    data: int = 0
    errors: dict = field(default_factory=dict)  # error type -> count
    slowest_s: float = 0.0
    excerpt: str = ""
    rows: int = 0
    budget_s: float = BUDGET_S
    data_text: str = "became data by the value and time rules ({rows} raw rows, each checked)"
    error_text: str = "naming site and window"

    def add(self, out: Outcome) -> None:
        self.slowest_s = max(self.slowest_s, out.elapsed_s)
        if out.error is None:
            self.data += 1
            self.rows += out.raw_rows
        else:
            name = type(out.error).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            if not self.excerpt or len(str(out.error)) < len(self.excerpt):
                self.excerpt = str(out.error)

    @property
    def cases(self) -> int:
        return self.data + sum(self.errors.values())

    def system_did(self) -> str:
        parts = []
        if self.data:
            parts.append(f"{self.data} " + self.data_text.format(rows=self.rows))
        if self.errors:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.errors.items()))
            parts.append(f"{kinds} {self.error_text}, e.g. \"{self.excerpt[:400]}\"")
        return (f"{self.cases} generated cases: " + "; ".join(parts)
                + f"; slowest case {self.slowest_s:.2f} s (bounds: {self.budget_s:g} s window budget, "
                  f"{MAX_PAGES} pages, {CAP // (1024 * 1024)} MiB decoded per response)")

    def lost(self) -> str:
        if self.data:
            return "nothing: errors published no file; data cases published every sample ACE sent"
        return "nothing: no file published"


def drive(ace: HostileAce, scenario, budget_s: float = BUDGET_S, windows: int = 1) -> tuple[Outcome, Storage, str]:
    """Raw ingest of DAY for SITE against `scenario`, in a thread with a hard join limit."""
    ace.set(scenario)
    root = tempfile.mkdtemp(prefix="bv-hostile-")
    storage = Storage.from_url(root)
    client = AceClient(ace.base_url, os.environ[TOKEN_ENV], timeout_s=1.0, max_retries=2, backoff_base_s=0.01,
                       backoff_max_s=0.02, requests_per_minute=math.inf, page_size=1000, min_page_size=1000,
                       window_budget_s=budget_s, max_pages_per_window=MAX_PAGES, max_response_bytes=CAP,
                       # The scenarios answer one window whatever is asked: one stream, except in
                       # test_errors_with_windows_fetched_at_once. Data with windows at once is
                       # driven in test_ace_parallel.py.
                       parallel_windows=windows)
    out = Outcome()

    def run():
        try:
            out.result = ingest_site_day(client, storage, SITE, DAY)
        except BaseException as exc:  # noqa: BLE001 - judged by the caller
            out.error = exc

    t0 = time.monotonic()
    worker = threading.Thread(target=run, name="hostile-ingest", daemon=True)
    worker.start()
    worker.join(HARD_S)
    out.elapsed_s = time.monotonic() - t0
    assert not worker.is_alive(), f"{scenario.kind}: the ingest hung for more than {HARD_S:g}s"
    client.close()
    out.requests = len(ace.requests)
    return out, storage, root


def files_under(root: str) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file())


def check_error(out: Outcome, root: str, token: str, *, reason: str, types=(AceError,)) -> None:
    err = out.error
    assert isinstance(err, types), f"expected {types}, got {type(err).__name__}: {err}"
    msg = str(err)
    assert SITE in msg, msg
    assert WINDOW[0] in msg and WINDOW[1] in msg, f"the window is not named: {msg}"
    assert re.search(reason, msg), f"the reason /{reason}/ is not in: {msg}"
    for text in (msg, repr(err), str(getattr(err, "server_message", "")), str(getattr(err, "last_error", ""))):
        assert token not in text and token[:16] not in text, "the API token leaked into the error"
    assert files_under(root) == [], f"a partial publish or scratch left: {files_under(root)}"


def expected_raw(bodies: list) -> list[dict]:
    """The samples the client must pass through for a Pages scenario that ends in data."""
    got, index = [], 0
    while True:
        body = bodies[index]
        got.extend({"name": s.get("name"), "value": s.get("value", None), "time": s.get("time")}
                   for s in body["point_samples"])
        cursor = body.get("next_cursor")
        if not (body.get("has_more") and cursor):
            return got
        index = int(cursor[1:])


def check_data(out: Outcome, storage: Storage, root: str, bodies: list | None = None) -> None:
    assert out.error is None, f"expected data, got {type(out.error).__name__}: {out.error}"
    key = raw_key(SITE, DAY)
    assert files_under(root) == [key], f"expected only {key}, found {files_under(root)}"
    with storage.local_copy(key) as path:
        raw = pq.read_table(path)
    out.raw_rows = raw.num_rows
    assert raw.num_rows == out.result.samples
    rows = raw.to_pylist()
    if bodies is not None:  # exactly what ACE sent, in order: names and times as sent, values as text
        want = expected_raw(bodies)
        assert [(r["name"], r["time"]) for r in rows] == [(w["name"], w["time"]) for w in want]
        for r, w in zip(rows, want):
            if w["value"] is None or isinstance(w["value"], str):
                assert r["value"] == w["value"]
            else:
                assert isinstance(r["value"], str) and r["value"], (r, w)
            if isinstance(w["value"], RawJson):  # re-printed when a double holds it: the rule must agree
                assert value_rule(r["value"]) == value_rule(w["value"].text), (r, w)
    if raw.num_rows == 0:
        return
    # The archive of these rows, against the rules restated above.
    table, dropped, _, _ = transform_raw_table(raw, sorted(POINTS), DAY)
    day_us = _days_from_civil(DAY.year, DAY.month, DAY.day) * 86_400_000_000
    counts = {k: 0 for k in dropped}
    kept: dict = {}
    order: list = []
    for r in rows:
        if r["name"] not in POINTS:
            counts["not_collected"] += 1
            continue
        ts = time_rule(r["time"])
        if ts is None:
            counts["bad_time"] += 1
            continue
        if not day_us <= ts < day_us + 86_400_000_000:
            counts["outside_day"] += 1
            continue
        category, value = value_rule(r["value"])
        if category != "valid":
            counts[category] += 1
            continue
        k = (r["name"], ts)
        if k in kept:
            counts["conflicting_duplicate" if kept[k] != value else "duplicate"] += 1
        else:
            order.append(k)
        kept[k] = value
    assert dropped == counts, f"drop counts differ from the rules: {dropped} vs {counts}"
    assert table.num_rows + sum(dropped.values()) == raw.num_rows
    got = set(zip(table.column("point").to_pylist(), table.column("ts").cast(pa.int64()).to_pylist(),
                  table.column("value").to_pylist()))
    assert got == {(k[0], k[1], v) for k, v in kept.items()}
    assert all(math.isfinite(v) for v in table.column("value").to_pylist())


def bounded(out: Outcome, bound_s: float = BUDGET_S + SLACK_S) -> None:
    assert out.elapsed_s <= bound_s, f"took {out.elapsed_s:.2f}s, over the {bound_s:g}s bound"


def record(reliability, log: ClassLog, fault: str) -> None:
    reliability.record(fault=f"hostile ACE: {fault}", component="ACE client", system_did=log.system_did(),
                       lost=log.lost())


# --------------------------------------------------------------- classes that may be data
def _data_or_error(ace, token, bodies, log: ClassLog, reason: str) -> Outcome:
    out, storage, root = drive(ace, Pages(bodies))
    try:
        bounded(out)
        if out.error is None:
            check_data(out, storage, root, bodies)
        else:
            check_error(out, root, token, reason=reason)
        log.add(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def test_wrong_types(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=10)
    @given(wrong_type_pages())
    @example([{"point_samples": {"name": "x"}, "has_more": False}])
    @example([{"point_samples": [sample(1)], "next_cursor": 7, "has_more": True}])
    @example([{"point_samples": [sample(1)], "next_cursor": "c1", "has_more": "false"}, {"point_samples": []}])
    @example([{"point_samples": [{"name": 12, "value": "1", "time": "2025-06-03T00:00:00"}], "has_more": False}])
    @example([{"point_samples": [{"name": POINTS[0], "value": {"v": [1]}, "time": "2025-06-03T00:00:00"},
                                 {"name": POINTS[1], "value": True, "time": "2025-06-03T00:00:01"},
                                 {"name": POINTS[2], "value": 71, "time": "2025-06-03T00:00:02"}],
               "has_more": False}])
    @example(["a list, not an object"])
    def case(bodies):
        _data_or_error(ace, token, bodies, log,
                       reason=r"not a string|not a boolean|point_samples|non-string|null|not an object|HTTP 400|"
                              r"lacks|not valid")

    case()
    assert log.data and log.errors, f"both outcomes expected over the generated cases: {log}"
    record(reliability, log, "wrong JSON types (envelope, samples, names, times, values)")


def test_missing_and_extra_keys(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=8)
    @given(missing_key_pages())
    @example([{"point_samples": [{"name": POINTS[0], "time": "2025-06-03T01:00:00"}]}])  # no value, no has_more
    @example([{"next_cursor": "c1", "has_more": True}])  # no point_samples: retried, then an error
    @example([{"point_samples": [{"value": "1", "time": "2025-06-03T01:00:00"}], "has_more": False}])
    @example([{"point_samples": [sample(2)], "has_more": False, "surprise": {"deep": [1, 2]}, "msg": "hi"}])
    def case(bodies):
        _data_or_error(ace, token, bodies, log, reason=r"point_samples|lacks 'name' or 'time'|failed after")

    case()
    assert log.data and log.errors
    record(reliability, log, "missing and extra keys")


def test_huge_strings(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=6)
    @given(huge_string_pages(CAP))
    @example(chain([[sample(0), {**sample(1), "value": "9" * (CAP // 2)}], [sample(3)]]))
    @example(chain([[sample(0), {**sample(1), "name": "n" * (CAP + 10)}], [sample(3)]]))
    def case(bodies):
        out = _data_or_error(ace, token, bodies, log, reason=r"too large|HTTP 414|characters long")
        if len(dumps(bodies[0])) > CAP:
            assert isinstance(out.error, AceProtocolError) and "too large" in str(out.error)

    case()
    assert log.data and log.errors
    record(reliability, log, f"huge strings in values, names, times, cursors (up to {CAP // 1024 + 1} KiB)")


def test_nan_and_infinity(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=8)
    @given(data_pages(value_st=non_finite_values))
    @example(chain([[{**sample(k), "value": v} for k, v in enumerate(
        [RawJson("NaN"), RawJson("Infinity"), RawJson("-Infinity"), RawJson("1e999"), float("nan"),
         "nan", "inf", "-Infinity", "1e999", "1.5"])]]))
    def case(bodies):
        out = _data_or_error(ace, token, bodies, log, reason="(none)")
        assert out.error is None

    case()
    record(reliability, log, "NaN/Infinity literals, 1e999, non-finite value strings")


def test_odd_timestamps(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=10)
    @given(data_pages(time_st=odd_times))
    @example(chain([[{**sample(k), "time": t} for k, t in enumerate(
        ["2025-06-03T05:00:00+05:30", "2025-06-03T10:00:00-08:00", "2025-06-03T00:00:00", "2025-06-03 01:02:03Z",
         "-0001-06-03T00:00:00", "0000-01-01T00:00:00", "0001-01-01T00:00:00+01:00", "2025-06-03T12:00:00+2359",
         "2025-06-03T12:00:00 EST", "2025-06-03T24:00:00", "2025-02-29T00:00:00", "garbage", "",
         "2025-06-04T00:00:00Z", "2025-06-02T23:59:59.999999"])]]))
    def case(bodies):
        out = _data_or_error(ace, token, bodies, log, reason="(none)")
        assert out.error is None

    case()
    record(reliability, log, "timestamps with odd zones, no zone, negative years, garbage")


def test_compressed_pages_are_data(ace, token):
    """The client inflates bodies itself now (to bound them): gzip, deflate (zlib or raw),
    gzip inside gzip and identity pages must still be data, sample for sample."""
    import zlib

    from support.hostile_ace import gzip_again

    bodies = chain([[sample(k) for k in range(30)], [sample(k, t=100 + k) for k in range(30)]])
    for encoding, encode in (("gzip", gzip_again), ("deflate", lambda b: zlib.compress(b, 6)),
                             ("deflate", lambda b: zlib.compress(b, 6)[2:-4]),  # raw deflate, no zlib wrapper
                             ("gzip, gzip", lambda b: gzip_again(gzip_again(b))), ("identity", lambda b: b)):
        replies = [Reply(body=encode(dumps(b)), headers={"Content-Encoding": encoding}) for b in bodies]
        out, storage, root = drive(ace, Pages(replies))
        try:
            bounded(out)
            check_data(out, storage, root, bodies)
            assert out.raw_rows == 60, encoding
        finally:
            shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------- classes that must fail
def _must_fail(ace, token, scenario, log: ClassLog, *, reason: str, types) -> Outcome:
    out, _, root = drive(ace, scenario, log.budget_s)
    try:
        bounded(out, log.budget_s + SLACK_S)
        check_error(out, root, token, reason=reason, types=types)
        log.add(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def test_cursor_loops(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=5)
    @given(cursor_loops())
    @example(CursorLoop(["A", "B"], with_samples=True))  # A -> B -> A ...
    @example(CursorLoop(["A"], with_samples=False))  # the same cursor forever, empty pages
    def case(scenario):
        out = _must_fail(ace, token, scenario, log, reason="looping", types=(AceProtocolError,))
        assert out.requests <= MAX_PAGES

    case()
    record(reliability, log, "a cursor that loops (A->B->A, the same cursor forever)")


def test_page_that_repeats_forever(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=3)
    @given(st.builds(RepeatingPage, samples=st.integers(1, 50)))
    @example(RepeatingPage(samples=5))
    def case(scenario):
        out = _must_fail(ace, token, scenario, log, reason="the same page", types=(AceProtocolError,))
        assert out.requests <= 5

    case()
    record(reliability, log, "the same page forever under fresh cursors")


def test_endless_pages(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=2)
    @given(st.builds(EndlessPages, samples=st.integers(1, 40)))
    @example(EndlessPages(samples=3))
    def case(scenario):
        out = _must_fail(ace, token, scenario, log, reason=f"within {MAX_PAGES} pages", types=(AceProtocolError,))
        assert out.requests == MAX_PAGES

    case()
    record(reliability, log, "an endless stream of new pages and cursors")


def test_gzip_bombs(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=3)
    @given(gzip_bomb_replies())
    @example(_bomb_reply(("gzip",), b" "))
    @example(_bomb_reply(("gzip", "gzip"), b"\x00"))
    def case(reply):
        assert len(reply.body) < 1_100_000  # ~1 MB (or 2.5 KB nested) on the wire for 1 GiB decoded
        out = _must_fail(ace, token, FixedReply(reply), log, reason=r"too large|passed [0-9,]+ bytes decoded",
                         types=(AceProtocolError,))
        assert out.requests == 1  # not retried: the same request gives the same bomb

    case()
    record(reliability, log, "gzip bombs (Content-Encoding gzip, gzip+gzip, deflate; ~1 MB -> 1 GiB)")


def test_html_200(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=3)
    @given(html_replies(token))  # one page echoes the token the client sent: it must be scrubbed
    @example(Reply(body=b"<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"))
    @example(Reply(body=f"<html>token {token} echoed</html>".encode(), content_type="text/html"))
    def case(reply):
        out = _must_fail(ace, token, FixedReply(reply), log, reason=r"Content-Type '[a-z/]+.*not JSON",
                         types=(AceRetriesExhausted,))
        assert out.error.attempts == 3

    case()
    record(reliability, log, "a 200 with an HTML (or text/plain) body")


def test_truncated_json(ace, token, reliability):
    log = ClassLog()

    @settings(HYPO, max_examples=5)
    @given(truncated_replies())
    @example(Reply(body=b'{"point_samples": [{"name": "a", "val'))
    @example(Reply(body=b'{"point_samples": []', content_length=200))
    def case(reply):
        _must_fail(ace, token, FixedReply(reply), log,
                   reason=r"not valid JSON|broke mid-response|cut off|corrupt|point_samples",
                   types=(AceRetriesExhausted,))

    case()
    record(reliability, log, "truncated JSON (cut body, lying Content-Length, cut gzip)")


def test_slow_drip(ace, token, reliability):
    log = ClassLog(budget_s=DRIP_BUDGET_S)

    @settings(HYPO, max_examples=1)
    @given(slow_drip_replies())
    @example(Reply(body=[b"{"] + [b" "] * 1000 + [b"}"], drip_s=0.05))
    def case(reply):
        out = _must_fail(ace, token, FixedReply(reply), log, reason="time budget", types=(AceDeadlineExceeded,))
        assert out.elapsed_s >= DRIP_BUDGET_S * 0.9

    case()
    record(reliability, log, "a slow-drip body (bytes trickling in under the read timeout)")


# ------------------------------------------------------------------ the point listing
def test_hostile_listings(ace, token, reliability):
    """configured_points (the catalog's source) against hostile listings: the items, or one
    clear error naming the site, within the budget. (What the catalog then makes of
    wrong-typed item fields is bv_pipeline.catalog_refresh's concern, not the client's.)"""
    log = ClassLog(data_text="returned their {rows} items", error_text="naming the site and endpoint")

    @settings(HYPO, max_examples=6)
    @given(st.one_of(listing_bodies().map(lambda b: Listing(bodies=b)),
                     st.just(Listing(endless=True)),
                     html_replies(token).map(lambda r: Listing(reply=r)),
                     st.just(Listing(reply=_bomb_reply(("gzip",), b" ")))))
    @example(Listing(endless=True))
    @example(Listing(bodies=[{"page": 1, "pages": "2", "items": []}]))
    @example(Listing(bodies=[{"page": 1, "pages": 1, "items": [{"name": POINTS[0]}, "not an object"]}]))
    def case(scenario):
        ace.set(scenario)
        client = AceClient(ace.base_url, os.environ[TOKEN_ENV], timeout_s=1.0, max_retries=2, backoff_base_s=0.01,
                           backoff_max_s=0.02, requests_per_minute=math.inf, window_budget_s=BUDGET_S,
                           max_pages_per_window=MAX_PAGES, max_response_bytes=CAP)
        out = Outcome()
        t0 = time.monotonic()
        try:
            items = client.configured_points(SITE)
            out.raw_rows = len(items)
            assert all(isinstance(i, dict) for i in items)
        except AceError as exc:
            out.error = exc
        finally:
            client.close()
        out.elapsed_s = time.monotonic() - t0
        bounded(out)
        if out.error is not None:
            msg = str(out.error)
            assert SITE in msg and "/configured_points" in msg, msg
            assert token not in msg and token[:16] not in msg and token not in repr(out.error)
            assert re.search(r"envelope|not an object|pages|not JSON|too large|returned a", msg), msg
        if scenario.endless:
            assert isinstance(out.error, AceProtocolError) and f"within {MAX_PAGES} pages" in str(out.error)
        log.add(out)

    case()
    assert log.errors
    fault = "hostile point listings (wrong types, missing keys, endless pages, HTML 200, gzip bomb)"
    reliability.record(fault=f"hostile ACE: {fault}", component="ACE client",
                       system_did=log.system_did(),
                       lost="nothing: the client returns items or raises; it publishes nothing itself")


WINDOWED_ERRORS = {  # scenario, the error type, what its message must say
    "cursor loop": (lambda token: CursorLoop(["A", "B"], with_samples=True), AceProtocolError, "looping"),
    "the same page forever": (lambda token: RepeatingPage(samples=5), AceProtocolError, "the same page"),
    "gzip bomb": (lambda token: FixedReply(_bomb_reply(("gzip",), b" ")), AceProtocolError,
                  r"too large|passed [0-9,]+ bytes decoded"),
    "HTML 200 echoing the token": (lambda token: FixedReply(Reply(body=f"<html>token {token}</html>".encode(),
                                                                  content_type="text/html")),
                                   AceRetriesExhausted, "not JSON"),
    "truncated JSON": (lambda token: FixedReply(Reply(body=b'{"point_samples": [{"name": "a", "val')),
                       AceRetriesExhausted, r"not valid JSON|broke mid-response|cut off"),
}


@pytest.mark.parametrize("name", list(WINDOWED_ERRORS))
def test_errors_with_windows_fetched_at_once(ace, token, name):
    """The day fetched as 3 windows at once (the shipped default) fails the same way: one
    error naming the site and the window it came from, no token, nothing published."""
    scenario, types, reason = WINDOWED_ERRORS[name]
    out, _, root = drive(ace, scenario(token), windows=3)
    try:
        bounded(out, BUDGET_S + SLACK_S)
        err = out.error
        assert isinstance(err, types), f"expected {types}, got {type(err).__name__}: {err}"
        msg = str(err)
        assert SITE in msg and re.search(reason, msg), msg
        assert re.search(r"window 2025-06-0[234]T", msg), f"the window is not named: {msg}"
        assert token not in msg and token not in repr(err)
        assert files_under(root) == [], f"a partial publish or scratch left: {files_under(root)}"
        assert len({p.get("start_time") for _, p in ace.requests}) > 1  # the windows really ran at once
    finally:
        shutil.rmtree(root, ignore_errors=True)

