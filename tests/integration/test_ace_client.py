"""AceClient: pure helpers, contract corner cases (httpx.MockTransport, only for what the
simulator cannot produce) and, further down, the real HTTP simulator with every fault mode.
(Over 400 lines on purpose: one file per component under test; its cases share the fault fixtures.)
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import orjson
import pyarrow as pa
import pytest

from bv_ace.client import AceClient
from bv_ace.errors import (
    AceAuthError,
    AceError,
    AceNotFoundError,
    AceProtocolError,
    AceRetriesExhausted,
)
from bv_ace.pages import RAW_SAMPLE_SCHEMA, format_api_time, parse_timeseries_page, samples_to_batch
from bv_ace.transport import Transient as _Transient
from bv_ace.transport import parse_retry_after
from bv_resources.ace import AceResource

# A throwaway token made per run, shaped like a JWT (header.payload.signature).
SECRET = ".".join(secrets.token_urlsafe(16) for _ in range(3))
START = datetime(2025, 6, 3, tzinfo=timezone.utc)
END = START + timedelta(days=1)


class Sleeps(list):
    """Injected `sleep`: records the waits, never sleeps."""

    def __call__(self, s: float) -> None:
        self.append(s)


def mock_client(handler, **kwargs) -> AceClient:
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("requests_per_minute", math.inf)
    kwargs.setdefault("backoff_base_s", 0.01)
    return AceClient("http://ace.test/api", SECRET, transport=httpx.MockTransport(handler), **kwargs)


def page(samples, cursor=None, has_more=None):
    return httpx.Response(200, content=orjson.dumps(
        {"point_samples": samples, "next_cursor": cursor, "has_more": bool(cursor) if has_more is None else has_more}
    ))


def smp(i: int, value="1.0"):
    return {"name": f"c/s/p{i % 7}", "value": value, "time": f"2025-06-03T00:00:{i % 60:02d}.000000"}


# ----------------------------------------------------------------------------- pure helpers
def test_format_api_time_utc_and_naive():
    assert format_api_time(datetime(2024, 10, 14)) == "2024-10-14T00:00:00Z"
    est = timezone(timedelta(hours=-5))
    assert format_api_time(datetime(2024, 10, 14, 19, 0, tzinfo=est)) == "2024-10-15T00:00:00Z"
    assert format_api_time(datetime(2024, 10, 14, 0, 0, 1, 500)) == "2024-10-14T00:00:01Z"
    assert format_api_time(datetime(2024, 10, 14, 0, 0, 1, 500), ceil=True) == "2024-10-14T00:00:02Z"


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    when = format_datetime(datetime.fromtimestamp(now + 12, tz=timezone.utc), usegmt=True)
    assert 10 <= parse_retry_after(when, now=now) <= 12
    past = format_datetime(datetime.fromtimestamp(now - 100, tz=timezone.utc), usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_samples_to_batch_missing_and_null_values():
    batch = samples_to_batch([
        {"name": "a", "value": "71.0", "time": "t1"},
        {"name": "b", "time": "t2"},
        {"name": "c", "value": None, "time": "t3"},
        {"name": "d", "value": 5.5, "time": "t4"},
        {"name": "e", "value": True, "time": "t5"},
    ])
    assert batch.schema == RAW_SAMPLE_SCHEMA
    assert batch.column("value").to_pylist() == ["71.0", None, None, "5.5", "true"]
    with pytest.raises(ValueError):
        samples_to_batch([{"value": "1", "time": "t"}])


@pytest.mark.parametrize("body", [
    b'{"point_samples":[{"name":"a","value":"1.0","time":"t"},{"name":"b\\u00e9","time":"t2"}],'
    b'"next_cursor":"c1","has_more":true,"extra":1}',
    b'{"point_samples":[{"name":"a","value":1.0,"time":"t"}],\n "has_more": false}',
    b'{\n  "point_samples": [],\n  "next_cursor": null,\n  "has_more": false\n}',
])
def test_page_parse_fast_path_equals_orjson_path(body):
    got = parse_timeseries_page(body)
    ref = orjson.loads(body)
    assert got.has_more == ref.get("has_more") and got.next_cursor == ref.get("next_cursor")
    if ref["point_samples"]:
        assert got.batch.equals(samples_to_batch(ref["point_samples"]))
    else:
        assert got.batch is None and got.samples == 0


@pytest.mark.parametrize("body,broken", [
    (b'{"point_samples":[{"name":"a","val', True),
    (b"", True),
    (b'{"next_cursor":"x","has_more":true}', False),
    (b'[]', False),
])
def test_page_parse_bad_bodies_are_retryable(body, broken):
    with pytest.raises(_Transient) as exc:
        parse_timeseries_page(body)
    assert exc.value.broken_body is broken


def test_parse_time_for_50k_samples():
    """Parse + Arrow build of a 50,000-sample page (real-sized names): report the time."""
    names = [f"ses/ses_falls_city/8000:33-8033/analogValue/{i}" for i in range(4583)]
    body = orjson.dumps({
        "point_samples": [{"name": names[i % 4583], "value": f"{i * 0.37:.4f}",
                           "time": f"2025-10-12T14:{(i // 4583) % 60:02d}:36.{i:06d}"} for i in range(50_000)],
        "next_cursor": "abc", "has_more": True,
    })
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        parsed = parse_timeseries_page(body)
        runs.append(time.perf_counter() - t)
    assert parsed.samples == 50_000
    best = min(runs) * 1000
    print(f"\nparse 50k-sample page ({len(body) / 1e6:.1f} MB): best {best:.1f} ms, median {sorted(runs)[3] * 1000:.1f} ms")
    assert best < 250  # a generous guard against an accidental per-sample Python path regression


# ----------------------------------------------------------------------------- secrets, config
def test_repr_and_resource_hide_the_key():
    with mock_client(lambda r: page([])) as client:
        assert SECRET not in repr(client) and "***" in repr(client)
    res = AceResource(api_base="http://ace.test/api", api_key=SECRET)
    assert SECRET not in repr(res) and SECRET not in str(res)
    with res.get_client() as client:
        assert client.page_size == 50_000 and SECRET not in repr(client)


def test_bad_config_rejected():
    with pytest.raises(ValueError):
        AceClient("http://x/api", SECRET, page_size=12_345)
    with pytest.raises(ValueError):
        AceClient("http://x/api", "")
    with pytest.raises(ValueError):
        AceClient("http://x/api", SECRET).timeseries("s", END, START)


def test_bearer_header_and_percent_encoded_site():
    seen = []

    def handler(req: httpx.Request):
        seen.append(req)
        return httpx.Response(200, json={"id": 1, "name": "a/b:c d"})

    with mock_client(handler) as client:
        assert client.get_site("a/b:c d")["id"] == 1
    assert seen[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert seen[0].url.raw_path == b"/api/sites/a%2Fb%3Ac%20d"


def test_timeseries_params_and_cursor():
    seen = []

    def handler(req: httpx.Request):
        seen.append(dict(req.url.params))
        return page([smp(1)], "cur-2") if "cursor" not in req.url.params else page([smp(2)])

    est = timezone(timedelta(hours=-4))
    with mock_client(handler, page_size=10_000) as client:
        stream = client.timeseries("s", datetime(2025, 6, 2, 20, tzinfo=est), datetime(2025, 6, 4))
        assert sum(b.num_rows for b in stream) == 2
    assert seen[0] == {"start_time": "2025-06-03T00:00:00Z", "end_time": "2025-06-04T00:00:00Z",
                       "page_size": "10000", "raw_data": "true"}
    assert seen[1]["cursor"] == "cur-2"
    assert stream.stats()["pages"] == 2


# ----------------------------------------------------------------------------- contract guards
def test_looping_cursor_is_a_protocol_error():
    def handler(req):
        return page([], "same-cursor", has_more=True)

    with mock_client(handler) as client:
        with pytest.raises(AceProtocolError, match="looping") as exc:
            list(client.timeseries("demo_office", START, END))
    assert "demo_office" in str(exc.value)


def test_cursor_cycle_without_samples_is_a_protocol_error():
    def handler(req):
        nxt = {None: "A", "A": "B", "B": "A"}[req.url.params.get("cursor")]
        return page([], nxt, has_more=True)

    with mock_client(handler) as client:
        with pytest.raises(AceProtocolError):
            list(client.timeseries("s", START, END))


def test_many_pages_no_cap_and_empty_pages_with_cursor_continue():
    n_pages = 300

    def handler(req):
        i = int(req.url.params.get("cursor", "0"))
        nxt = str(i + 1) if i + 1 < n_pages else None
        return page([] if i % 3 == 1 else [smp(i)], nxt)

    with mock_client(handler) as client:
        stream = client.timeseries("s", START, END)
        batches = list(stream)
    st = stream.stats()
    assert st["pages"] == n_pages and st["empty_pages"] == n_pages // 3 and st["samples"] == len(batches)


def test_has_more_false_with_cursor_stops():
    def handler(req):
        return page([smp(1)], "ignored", has_more=False)

    with mock_client(handler) as client:
        assert len(list(client.timeseries("s", START, END))) == 1


@pytest.mark.parametrize("body", [{"page": 1, "pages": 1}, {"items": "x", "pages": 1}, [1, 2], {"items": [1], "pages": 1}])
def test_malformed_listing_envelope(body):
    with mock_client(lambda r: httpx.Response(200, json=body)) as client:
        with pytest.raises(AceProtocolError, match="demo_office"):
            client.configured_points("demo_office")


def test_listing_stops_on_empty_items_even_if_pages_says_more():
    calls = []

    def handler(req):
        calls.append(int(req.url.params["page"]))
        items = [{"name": "p"}] if calls[-1] == 1 else []
        return httpx.Response(200, json={"page": calls[-1], "pages": 99, "per_page": 1000, "total": 1, "items": items})

    with mock_client(handler) as client:
        assert len(client.points("s")) == 1
    assert calls == [1, 2]


def test_other_4xx_is_an_ace_error_with_server_message_no_retry():
    calls = []

    def handler(req):
        calls.append(1)
        return httpx.Response(400, json={"msg": "page_size must be one of ..."})

    with mock_client(handler) as client:
        with pytest.raises(AceError, match="page_size must be one of") as exc:
            list(client.timeseries("s", START, END))
    assert type(exc.value) is AceError and len(calls) == 1 and "GET /sites/s/timeseries/paginated" in str(exc.value)


def test_server_echoing_the_token_is_scrubbed():
    def handler(req):
        return httpx.Response(401, json={"msg": f"bad token {SECRET}"})

    with mock_client(handler) as client:
        with pytest.raises(AceAuthError) as exc:
            client.get_site("s")
    assert SECRET not in str(exc.value) and "***" in str(exc.value)


def test_404_mid_stream_is_a_protocol_error():
    def handler(req):
        if "cursor" in req.url.params:
            return httpx.Response(404, json={"msg": "No data for time period"})
        return page([smp(1)], "c2")

    with mock_client(handler) as client:
        with pytest.raises(AceProtocolError, match="404"):
            list(client.timeseries("s", START, END))


def test_retry_after_http_date_and_dropped_connection():
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) == 1:
            when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
            return httpx.Response(429, headers={"Retry-After": when}, json={"msg": "slow down"})
        if len(calls) == 2:
            raise httpx.ConnectError("connection refused")
        if len(calls) == 3:
            raise httpx.ReadTimeout("read timed out")
        return page([smp(1)])

    sleeps = Sleeps()
    with mock_client(handler, sleep=sleeps) as client:
        stream = client.timeseries("s", START, END)
        assert sum(b.num_rows for b in stream) == 1
    assert 15 <= sleeps[0] <= 20
    assert stream.stats()["retries"] == 3 and len(sleeps) == 3


def test_backoff_is_exponential_jittered_and_capped():
    sleeps = Sleeps()

    def handler(req):
        return httpx.Response(503, json={"msg": "busy"})

    with mock_client(handler, sleep=sleeps, backoff_base_s=1.0, backoff_max_s=4.0, max_retries=6) as client:
        with pytest.raises(AceRetriesExhausted) as exc:
            client.list_sites()
    assert exc.value.attempts == 7 and "503" in str(exc.value.last_error)
    ceilings = [1, 2, 4, 4, 4, 4]
    assert len(sleeps) == 6
    for s, c in zip(sleeps, ceilings):
        assert c / 2 <= s <= c


def test_page_body_without_point_samples_is_retried():
    calls = []

    def handler(req):
        calls.append(1)
        return httpx.Response(200, json={"oops": True}) if len(calls) == 1 else page([smp(1)])

    with mock_client(handler) as client:
        stream = client.timeseries("s", START, END)
        assert sum(b.num_rows for b in stream) == 1
    assert stream.stats()["retries"] == 1


def test_broken_bodies_shrink_the_page_size(caplog):
    sizes = []

    def handler(req):
        size = int(req.url.params["page_size"])
        sizes.append(size)
        if size > 5000:
            return httpx.Response(200, content=b'{"point_samples":[{"name":"a","va')
        return page([smp(1)])

    with caplog.at_level(logging.WARNING, logger="bv.ace"):
        with mock_client(handler, max_retries=1) as client:
            stream = client.timeseries("s", START, END)
            assert sum(b.num_rows for b in stream) == 1
    assert sizes == [50000, 50000, 10000, 10000, 5000]
    assert stream.stats()["page_size"] == 5000
    assert any("page_size=5000" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


# ============================================================================= real simulator
# Everything below talks HTTP to bv_sim.server.SimServer (fixtures in tests/fixtures_sim.py).

SIM_DAY = date(2025, 6, 3)
DAY_START = datetime(SIM_DAY.year, SIM_DAY.month, SIM_DAY.day, tzinfo=timezone.utc)
DAY_END = DAY_START + timedelta(days=1)


def _faults(**kwargs):
    from bv_sim.faults import FaultConfig

    return FaultConfig(**kwargs)


def sim_client(sim, token, **kwargs) -> AceClient:
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("requests_per_minute", math.inf)
    kwargs.setdefault("backoff_base_s", 0.01)
    kwargs.setdefault("backoff_max_s", 0.05)
    kwargs.setdefault("timeout_s", 10)
    return AceClient(sim.base_url, token, **kwargs)


def rows_of(batches) -> list[tuple]:
    out = []
    for b in batches:
        assert b.schema == RAW_SAMPLE_SCHEMA
        out.extend(zip(b.column("name").to_pylist(), b.column("value").to_pylist(), b.column("time").to_pylist()))
    return out


def expected_rows(sim, site="demo_office", start=DAY_START, end=DAY_END) -> list[tuple]:
    return [tuple(r) for r in sim.site(site).samples(start, end)]


def stream_day(client, site="demo_office", **kwargs):
    stream = client.timeseries(site, DAY_START, DAY_END, **kwargs)
    return rows_of(stream), stream.stats()


# A shorter window (several pages at page_size=5000) keeps the fault tests fast.
WIN_START = DAY_START + timedelta(hours=6)
WIN_END = WIN_START + timedelta(hours=4)


def stream_window(client, site="demo_office", **kwargs):
    stream = client.timeseries(site, WIN_START, WIN_END, **kwargs)
    return rows_of(stream), stream.stats()


def ts_requests(sim) -> list[tuple]:
    return [r for r in sim.request_log if r[1].endswith("/timeseries/paginated")]


def test_sim_whole_day_equals_site_samples(ace_sim, sim_token):
    with sim_client(ace_sim, sim_token) as client:
        got, stats = stream_day(client)
    expected = expected_rows(ace_sim)
    assert len(expected) > 100_000
    assert got == expected
    assert stats["samples"] == len(expected) and stats["pages"] >= 3 and not stats["no_data"]
    assert stats["retries"] == 0 and stats["page_size"] == 50_000 and stats["bytes_received"] > 0
    assert SECRET not in str(stats) and sim_token not in str(stats)


def test_sim_listings(ace_sim, sim_token):
    with sim_client(ace_sim, sim_token, list_per_page=10) as client:  # several pages per listing
        sites = client.list_sites()
        configured = client.configured_points("demo_office")
        points = client.points("demo_office")
        site = client.get_site("demo_school")
    assert {s["name"] for s in sites} >= {"demo_office", "demo_school"}
    assert [p["name"] for p in configured] == [p["name"] for p in ace_sim.site("demo_office").configured_points()]
    assert len(configured) > 10 and all(p["collect_enabled"] for p in configured)
    assert {p["name"] for p in points} > {p["name"] for p in configured}
    assert site["name"] == "demo_school"
    pages = [r for r in ace_sim.request_log if r[1].endswith("/configured_points")]
    assert len(pages) == math.ceil(len(configured) / 10)


def test_sim_unknown_site_is_not_found(ace_sim, sim_token):
    with sim_client(ace_sim, sim_token) as client:
        with pytest.raises(AceNotFoundError, match="no_such_site"):
            client.get_site("no_such_site")
        with pytest.raises(AceNotFoundError, match="no_such_site"):
            client.configured_points("no_such_site")
        with pytest.raises(AceNotFoundError, match="no_such_site"):
            list(client.timeseries("no_such_site", WIN_START, WIN_END))


@pytest.mark.parametrize("how", ["reject_token", "wrong_token"])
def test_sim_rejected_token_fails_at_once(make_ace_sim, sim_token, how, caplog, reliability):
    sim = make_ace_sim(faults=_faults(reject_token=(how == "reject_token")))
    token = sim_token if how == "reject_token" else SECRET
    sleeps = Sleeps()
    with caplog.at_level(logging.DEBUG):
        with sim_client(sim, token, sleep=sleeps) as client:
            with pytest.raises(AceAuthError) as exc:
                list(client.timeseries("demo_office", WIN_START, WIN_END))
            with pytest.raises(AceAuthError):
                client.configured_points("demo_office")
    msg = str(exc.value)
    assert "demo_office" in msg and "HTTP 401" in msg and "GET /sites/demo_office/timeseries/paginated" in msg
    assert token not in msg and token not in repr(exc.value)
    assert all(token not in r.getMessage() for r in caplog.records)
    assert sleeps == [] and len(ts_requests(sim)) == 1  # no retry
    reliability.record(
        fault=f"ACE rejects the token ({how.replace('_', ' ')})",
        component="ACE client",
        system_did=f"AceAuthError after {len(ts_requests(sim))} request, no retry: {msg.split(':')[0]}",
        lost="nothing: no sample emitted, token absent from error and logs",
    )


def test_sim_429_retry_after_honoured(make_ace_sim, sim_token, reliability):
    sim = make_ace_sim(faults=_faults(rate_limit_every=3, retry_after_s=7))
    sleeps = Sleeps()
    with sim_client(sim, sim_token, sleep=sleeps, page_size=5000) as client:
        got, stats = stream_window(client)
    assert got == expected_rows(sim, start=WIN_START, end=WIN_END)
    assert stats["retries"] >= 2 and sleeps and all(s == 7.0 for s in sleeps)
    assert any(r[2] == 429 for r in sim.request_log)
    reliability.record(
        fault="ACE answers 429 with Retry-After: 7 on every 3rd request",
        component="ACE client",
        system_did=f"{stats['retries']} retries, each backoff = the 7 s asked (clock injected); stream completed",
        lost=f"nothing: {len(got)} samples equal to the source",
    )


def test_sim_429_without_retry_after_backs_off(make_ace_sim, sim_token):
    sim = make_ace_sim(faults=_faults(rate_limit_every=2, retry_after_s=None))
    sleeps = Sleeps()
    with sim_client(sim, sim_token, sleep=sleeps, page_size=5000) as client:
        got, stats = stream_window(client)
    assert got == expected_rows(sim, start=WIN_START, end=WIN_END)
    assert stats["retries"] == len(sleeps) >= 2 and all(0 < s <= 0.05 for s in sleeps)


def test_sim_intermittent_5xx_recovered_identically(make_ace_sim, sim_token, reliability):
    sim = make_ace_sim(faults=_faults(server_error_every=2))
    with sim_client(sim, sim_token, page_size=5000) as client:
        got, stats = stream_window(client)
    assert got == expected_rows(sim, start=WIN_START, end=WIN_END)
    statuses = {r[2] for r in sim.request_log}
    assert {500, 502, 503} <= statuses  # JSON and HTML error bodies alike
    assert stats["retries"] == sum(1 for r in sim.request_log if r[2] >= 500)
    reliability.record(
        fault="ACE answers 500/502/503 (JSON and HTML bodies) on every 2nd request",
        component="ACE client",
        system_did=f"{stats['retries']} retries with backoff; stream completed",
        lost=f"nothing: {len(got)} samples equal to the source",
    )


def test_sim_truncated_bodies_shrink_page_size(make_ace_sim, sim_token, caplog, reliability):
    sim = make_ace_sim(faults=_faults(truncate_above_page_size=5000))
    with caplog.at_level(logging.WARNING, logger="bv.ace"):
        with sim_client(sim, sim_token, page_size=50_000) as client:
            got, stats = stream_window(client)
    assert got == expected_rows(sim, start=WIN_START, end=WIN_END)
    assert stats["page_size"] == 5000 and stats["retries"] == 4  # 50000 x2, 10000 x2, then 5000 works
    sizes = [r.getMessage() for r in caplog.records if "page_size=" in r.getMessage()]
    assert len(sizes) == 2 and "page_size=5000" in sizes[-1]
    reliability.record(
        fault="ACE truncates page bodies above 5,000 samples",
        component="ACE client",
        system_did=f"{stats['retries']} retries, page size 50,000 -> {stats['page_size']:,} (logged); stream completed",
        lost=f"nothing: {len(got)} samples equal to the source",
    )


def test_sim_empty_pages_do_not_stop_the_stream(make_ace_sim, sim_token):
    sim = make_ace_sim(faults=_faults(empty_page_every=2))
    with sim_client(sim, sim_token, page_size=5000) as client:
        got, stats = stream_window(client)
    expected = expected_rows(sim, start=WIN_START, end=WIN_END)
    # The simulator's empty page carries a cursor at the start of a scrape time, so the next
    # page may re-send a few samples of that scrape time (the contract allows re-sends; the
    # archive deduplicates). Nothing is lost and the stream runs to the window's end.
    assert set(got) == set(expected) and got[-1] == expected[-1]
    assert len(got) - len(expected) <= stats["empty_pages"] * 100
    assert stats["empty_pages"] >= 3 and stats["samples"] == len(got)


@pytest.mark.parametrize("answer", ["404", "200"])
def test_sim_empty_window_is_no_data(make_ace_sim, sim_token, answer):
    sim = make_ace_sim(faults=_faults(empty_window=answer))
    with sim_client(sim, sim_token) as client:
        stream = client.timeseries("demo_office", WIN_START, WIN_END)
        assert list(stream) == []
    stats = stream.stats()
    assert stats["no_data"] is True and stats["samples"] == 0 and stats["retries"] == 0


def test_sim_window_before_any_data_is_no_data(ace_sim, sim_token):
    with sim_client(ace_sim, sim_token) as client:
        future = datetime.now(timezone.utc) + timedelta(days=30)
        stream = client.timeseries("demo_office", future, future + timedelta(hours=1))
        assert list(stream) == [] and stream.stats()["no_data"] is True


def test_sim_retries_exhausted_after_max_retries_plus_one(make_ace_sim, sim_token, reliability):
    sim = make_ace_sim(faults=_faults(server_error_every=1))
    sleeps = Sleeps()
    with sim_client(sim, sim_token, max_retries=3, sleep=sleeps) as client:
        with pytest.raises(AceRetriesExhausted) as exc:
            list(client.timeseries("demo_office", WIN_START, WIN_END))
    assert exc.value.attempts == 4 and len(ts_requests(sim)) == 4 and len(sleeps) == 3
    msg = str(exc.value)
    assert "demo_office" in msg and "/timeseries/paginated" in msg and "4 attempts" in msg
    assert "HTTP 50" in str(exc.value.last_error) and sim_token not in msg
    reliability.record(
        fault="ACE answers 5xx to every request",
        component="ACE client",
        system_did=f"AceRetriesExhausted after {exc.value.attempts} attempts naming site and path",
        lost="nothing: no sample emitted",
    )


def test_sim_timeouts_are_retried_then_exhausted(make_ace_sim, sim_token, reliability):
    sim = make_ace_sim(faults=_faults(slow_s=0.5))
    with sim_client(sim, sim_token, max_retries=1, timeout_s=0.1) as client:
        with pytest.raises(AceRetriesExhausted, match="timed out") as exc:
            client.get_site("demo_office")
    assert exc.value.attempts == 2
    reliability.record(
        fault="ACE answers slower than the client timeout (0.5 s vs 0.1 s)",
        component="ACE client",
        system_did=f"AceRetriesExhausted ('timed out') after {exc.value.attempts} attempts",
        lost="nothing: no sample emitted",
    )


def test_sim_resent_overlap_passes_through_as_received(make_ace_sim, sim_token):
    sim = make_ace_sim(faults=_faults(resend_overlap=10))
    with sim_client(sim, sim_token, page_size=5000) as client:
        got, stats = stream_window(client)
    expected = expected_rows(sim, start=WIN_START, end=WIN_END)
    assert set(got) == set(expected) and len(got) > len(expected)  # duplicates are the archive's job


def test_sim_resource_end_to_end(ace_sim, sim_token):
    res = AceResource(api_base=ace_sim.base_url, api_key=sim_token, requests_per_minute=6000)
    with res.get_client() as client:
        got = rows_of(client.timeseries("demo_school", WIN_START, WIN_START + timedelta(minutes=30)))
    assert got == expected_rows(ace_sim, "demo_school", WIN_START, WIN_START + timedelta(minutes=30))
