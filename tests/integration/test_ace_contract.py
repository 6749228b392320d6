"""The simulator against ACE's own client: `aceiot-models` (ACE IoT's published package)
drives a real simulator over HTTP through every read endpoint its clients offer, and every
answer is validated into the package's pydantic models.

Each read method of `APIClient` (requests) and `AsyncAPIClient` (httpx) is one test case.
A case checks, beyond `model_validate` (which ignores unknown keys and fills defaults):

- that each object carries every field its model declares (`assert_full_shape`), so a
  field the simulator stops sending fails here even when the model has a default;
- real values against the simulator's own model computed without HTTP (site and client
  ids, point names, the samples of a window, 5-minute bucket means, hashes of configs).

`test_every_method_of_the_package_is_classified` fails when a new package version adds a
method this file does not cover (reads) or list (writes, out of scope). docs/ace-api.md,
"Contract test", lists each endpoint and its result.
(Over 400 lines on purpose: one parametrized case per endpoint of the package, kept together.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import ipaddress
import math
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from aceiot_models.api import APIClient, APIError, AsyncAPIClient, PaginatedResults
from aceiot_models.clients import Client, ClientPaginatedResponse
from aceiot_models.common import PaginatedResponse
from aceiot_models.der_events import DerEvent, DerEventPaginatedResponse
from aceiot_models.gateways import Gateway, GatewayPaginatedResponse
from aceiot_models.hawke import HawkeConfigPaginatedResponse, HawkeConfigWithIdentity
from aceiot_models.points import BACnetData, Point, PointPaginatedResponse
from aceiot_models.sites import Site, SitePaginatedResponse
from aceiot_models.timeseries import PointSample, TimeseriesResponse, WeatherData, WeatherPointSample
from aceiot_models.volttron import (
    AgentConfig,
    AgentConfigPaginatedResponse,
    VolttronAgent,
    VolttronAgentConfigPackage,
    VolttronAgentPackage,
    VolttronAgentPackagePaginatedResponse,
    VolttronAgentPaginatedResponse,
)

from bv_sim.clock import SimClock

NOW = datetime(2025, 6, 4, 12, 0, tzinfo=timezone.utc)  # the simulator's frozen clock
DAY = datetime(2025, 6, 3, tzinfo=timezone.utc)
ISO = "%Y-%m-%dT%H:%M:%SZ"
SITE, OTHER_SITE, CLIENT, GATEWAY = "demo_office", "demo_school", "bvdemo", "gw-demo_office"
POINT = "bvdemo/demo_office/192.168.1.5/n4/AHU 1/Supply Temp #2"  # '/', ' ', '#' in the name
WORD_POINT = "bvdemo/demo_office/192.168.1.5/n4/AHU 1/Supply Fan Status"  # "on"/"off"
PCAP_MAGIC = bytes.fromhex("d4c3b2a1")

# Model fields the simulator does not send (everything else must be present in the JSON).
ABSENT_OK: dict[type, set[str]] = {BACnetData: {"additional_properties"}, TimeseriesResponse: {"metadata"}}

# Writes of the package: out of scope of the contract test (docs/ace-api.md, "Contract test").
WRITES = {
    "create_client", "create_client_der_events", "update_client_der_events", "create_site",
    "post_site_timeseries", "create_gateway", "patch_gateway", "create_points", "update_point",
    "create_gateway_token", "upload_client_volttron_agent_package", "create_gateway_volttron_agents",
    "create_gateway_hawke_configuration", "create_gateway_hawke_agent_configuration",
    "create_gateway_agent_configs", "upload_gateway_pcap", "create_gateway_volttron_agent_config_package",
}
# Read methods the package itself leaves unimplemented (NotImplementedError, no request sent).
NOT_IMPLEMENTED = {
    APIClient: {"download_client_volttron_agent_package"},
    AsyncAPIClient: {"download_client_volttron_agent_package", "download_gateway_pcap"},
}
PLUMBING = {"from_config", "close"}


# ------------------------------------------------------------------------------ harness
class AsyncAsSync:
    """AsyncAPIClient behind a blocking facade: each call runs in a fresh client and loop."""

    def __init__(self, base_url: str, api_key: str):
        self.base_url, self._key = base_url, api_key

    def __getattr__(self, name: str) -> Callable[..., Any]:
        getattr(AsyncAPIClient, name)  # AttributeError for what the async client lacks

        def call(*args, **kwargs):
            async def run():
                async with AsyncAPIClient(base_url=self.base_url, api_key=self._key, timeout=30) as c:
                    return await getattr(c, name)(*args, **kwargs)
            return asyncio.run(run())
        return call


CLIENT_KINDS = {"APIClient": APIClient, "AsyncAPIClient": AsyncAPIClient}


def make_api(kind: str, sim, token: str):
    if kind == "APIClient":
        return APIClient(base_url=sim.base_url, api_key=token, timeout=30)
    return AsyncAsSync(sim.base_url, token)


@pytest.fixture
def contract_sim(make_ace_sim):
    """The demo sites, clock frozen at NOW, 5-minute buckets on (the package's default
    raw_data=False asks for them)."""
    return make_ace_sim(clock=SimClock(fixed=NOW), serve_buckets=True)


def assert_full_shape(model: type, raw: dict) -> None:
    """Every field `model` declares is in the JSON object (recursing into bacnet_data)."""
    assert isinstance(raw, dict), f"{model.__name__}: not an object: {raw!r}"
    missing = set(model.model_fields) - set(raw) - ABSENT_OK.get(model, set())
    assert not missing, f"{model.__name__} fields missing from the simulator's answer: {sorted(missing)}"
    if model is Point and raw.get("bacnet_data") is not None:
        assert_full_shape(BACnetData, raw["bacnet_data"])


def validated(model: type, raw):
    if model is str:  # items of the PCAP file list are file names
        assert isinstance(raw, str) and raw, raw
        return raw
    assert_full_shape(model, raw)
    return model.model_validate(raw)


def walk(fetch: Callable[..., dict], page_model: type, item_model: type, per_page: int = 10,
         **kwargs) -> list:
    """Every page via the package's own PaginatedResults; each page validated into its
    paginated model and each item into its item model -> the validated items."""
    items, total, pages_seen = [], None, 0
    for page in PaginatedResults(fetch, per_page=per_page, **kwargs).pages():
        model = page_model.model_validate(page)
        pages_seen += 1
        assert model.page == pages_seen and model.per_page == per_page
        assert total in (None, model.total)
        total = model.total
        assert model.pages == math.ceil(model.total / per_page)
        items += [validated(item_model, raw) for raw in page["items"]]
    assert len(items) == total, "the pages do not add up to total"
    return items


def iso(dt: datetime) -> str:
    return dt.strftime(ISO)


def utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def sample_rows(samples: list[PointSample]) -> list[tuple]:
    return [(s.name, s.value, s.time) for s in samples]


def expected_rows(sim, site: str, start: datetime, end: datetime, names: set[str] | None = None) -> list[tuple]:
    """The window's samples as the simulator computes them without HTTP."""
    return [(n, v, datetime.fromisoformat(t)) for n, v, t in sim.site(site).samples(start, end)
            if names is None or n in names]


def sha256(text: str, b64: bool = False) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b64encode(digest).decode() if b64 else digest.hex()


# ------------------------------------------------------------------------------ the read cases
CASES: dict[str, Callable] = {}


def case(fn: Callable) -> Callable:
    CASES[fn.__name__] = fn
    return fn


@case
def get_clients(api, sim):
    clients = walk(api.get_clients, ClientPaginatedResponse, Client, per_page=2)
    assert [c.name for c in clients] == [CLIENT]
    assert clients[0].id == sim.site(SITE).client_id == sim.site(OTHER_SITE).client_id


@case
def get_client(api, sim):
    client = validated(Client, api.get_client(CLIENT))
    assert (client.name, client.id) == (CLIENT, sim.site(SITE).client_id) and client.created is not None


@case
def get_client_sites(api, sim):
    sites = walk(lambda **kw: api.get_client_sites(CLIENT, **kw), SitePaginatedResponse, Site)
    assert [s.name for s in sites] == [SITE, OTHER_SITE]
    assert all(s.client == CLIENT and s.client_id == sim.site(SITE).client_id for s in sites)


def _check_der(events: list[DerEvent], past: bool, sites: list[str]) -> None:
    # Per site: yesterday 19-23 h (ended < 24 h ago), today 19-23 h, tomorrow 14-16 h (UTC).
    assert len(events) == (3 if past else 2) * len(sites)
    assert {e.group_name for e in events} == set(sites) and all(e.client == CLIENT for e in events)
    for e in events:
        assert utc(e.event_end) > (NOW - timedelta(hours=24) if past else NOW)
        assert e.event_end > e.event_start and e.timezone == "America/Chicago" and e.id and e.event_type


@case
def get_client_der_events(api, sim):
    for past in (False, True):
        events = walk(lambda **kw: api.get_client_der_events(CLIENT, get_past_events=past, **kw),
                      DerEventPaginatedResponse, DerEvent, per_page=2)
        _check_der(events, past, [SITE, OTHER_SITE])
    only = walk(lambda **kw: api.get_client_der_events(CLIENT, group_name=OTHER_SITE, **kw),
                DerEventPaginatedResponse, DerEvent)
    _check_der(only, False, [OTHER_SITE])


@case
def get_client_volttron_agent_package_list(api, sim):
    packages = walk(lambda **kw: api.get_client_volttron_agent_package_list(CLIENT, **kw),
                    VolttronAgentPackagePaginatedResponse, VolttronAgentPackage)
    names = [p.package_name for p in packages]
    assert len(names) >= 2 and len(set(names)) == len(names)
    assert all(p.id and p.object_hash and p.object_path for p in packages)
    one = walk(lambda **kw: api.get_client_volttron_agent_package_list(
        CLIENT, voltron_agent_package_name=names[1], **kw), VolttronAgentPackagePaginatedResponse, VolttronAgentPackage)
    assert [p.package_name for p in one] == [names[1]]


@case
def get_sites(api, sim):
    sites = walk(api.get_sites, SitePaginatedResponse, Site, per_page=2, collect_enabled=True)
    assert [s.name for s in sites] == [SITE, OTHER_SITE]
    for s in sites:
        model = sim.site(s.name)
        assert (s.id, s.client, s.client_id, s.archived) == (model.site_id, CLIENT, model.client_id, False)


@case
def get_site(api, sim):
    site = validated(Site, api.get_site(SITE))
    model = sim.site(SITE)
    assert (site.name, site.id, site.client_id) == (SITE, model.site_id, model.client_id)
    assert -90 <= site.latitude <= 90 and -180 <= site.longitude <= 180 and site.nice_name


def _check_points(points: list[Point], sim, site: str, configured: bool) -> None:
    model = sim.site(site)
    expected = model.configured_points() if configured else model.points()
    assert [p.name for p in points] == [p["name"] for p in expected]
    assert all(p.site == site and p.site_id == model.site_id and p.client_id == model.client_id for p in points)
    assert all(p.collect_enabled for p in points) if configured else not all(p.collect_enabled for p in points)
    assert any(p.bacnet_data and p.bacnet_data.device_id and p.bacnet_data.object_index is not None for p in points)
    assert all(p.created and p.updated and p.created <= p.updated for p in points)


@case
def get_site_points(api, sim):
    points = walk(lambda **kw: api.get_site_points(SITE, **kw), PointPaginatedResponse, Point, per_page=20)
    _check_points(points, sim, SITE, configured=False)


@case
def get_site_configured_points(api, sim):
    points = walk(lambda **kw: api.get_site_configured_points(SITE, **kw), PointPaginatedResponse, Point,
                  per_page=20)
    _check_points(points, sim, SITE, configured=True)


@case
def get_site_timeseries(api, sim):
    start, end = DAY + timedelta(hours=6), DAY + timedelta(hours=6, minutes=30)
    body = api.get_site_timeseries(SITE, iso(start), iso(end))
    got = validated(TimeseriesResponse, body)
    rows = sample_rows([validated(PointSample, s) for s in body["point_samples"]])
    assert rows == sample_rows(got.point_samples) == expected_rows(sim, SITE, start, end)
    assert len(rows) > 1000


def _bucket_means(sim, start: datetime, end: datetime) -> dict[tuple[str, datetime], list]:
    by: dict[tuple[str, datetime], list] = defaultdict(list)
    for name, value, time in sim.site(SITE).samples(start, end):
        t = datetime.fromisoformat(time)
        by[(name, t - timedelta(minutes=t.minute % 5, seconds=t.second, microseconds=t.microsecond))].append(value)
    return by


@case
def get_site_timeseries_paginated(api, sim):
    start, end = DAY + timedelta(hours=8), DAY + timedelta(hours=9)
    # raw_data=True: every sample, through the cursor (page_size 500: several pages)
    raw = api.get_site_timeseries_paginated(SITE, iso(start), iso(end), page_size=500, raw_data=True)
    rows = sample_rows([validated(PointSample, s) for s in raw["point_samples"]])
    assert rows == expected_rows(sim, SITE, start, end) and len(rows) > 3000
    # the package's default raw_data=False: one sample per (point, 5-minute bucket)
    agg = api.get_site_timeseries_paginated(SITE, iso(start), iso(end), page_size=100)
    samples = [validated(PointSample, s) for s in agg["point_samples"]]
    TimeseriesResponse.model_validate(agg)
    want = _bucket_means(sim, start, end)
    assert len(samples) == len(want) and len({(s.name, s.time) for s in samples}) == len(samples)
    order = [(s.time, sim.site(SITE).index[s.name]) for s in samples]
    assert order == sorted(order), "buckets must come in (time, point) order"
    for s in samples:
        assert s.time.tzinfo is None and s.time.minute % 5 == 0 and s.time.second == s.time.microsecond == 0
        values = want[(s.name, s.time)]
        numbers = [float(v) for v in values if v is not None and _is_number(v) and math.isfinite(float(v))]
        if numbers:
            fraction = s.value.split(".")[1] if "." in s.value else "0"
            decimals = 0 if fraction == "0" else len(fraction)  # "272.0" may be 0 decimals
            assert abs(float(s.value) - sum(numbers) / len(numbers)) <= 0.5 * 10 ** -decimals + 1e-9, s
        else:
            assert s.value == next((v for v in reversed(values) if v is not None), None), s
    assert {s.value for s in samples if s.name == WORD_POINT} <= {"on", "off"}


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


@case
def get_site_weather(api, sim):
    body = api.get_site_weather(SITE)
    weather = validated(WeatherData, body["weather"])
    for field in WeatherData.model_fields:
        sample = getattr(weather, field)
        validated(WeatherPointSample, body["weather"][field])
        assert sample is not None and sample.name == f"{CLIENT}/{SITE}/weather/{field}"
        assert NOW - timedelta(minutes=10) <= utc(sample.time) < NOW and sample.units and sample.source
        float(sample.value)


@case
def get_gateways(api, sim):
    gateways = walk(api.get_gateways, GatewayPaginatedResponse, Gateway, per_page=2)
    assert [g.name for g in gateways] == [GATEWAY, "gw-demo_school"]
    for g in gateways:
        model = sim.site(g.site)
        assert (g.site_id, g.client, g.client_id, g.archived) == (model.site_id, CLIENT, model.client_id, False)


@case
def get_gateway(api, sim):
    g = validated(Gateway, api.get_gateway(GATEWAY))
    assert (g.name, g.site, g.site_id) == (GATEWAY, SITE, sim.site(SITE).site_id)
    assert isinstance(g.vpn_ip, ipaddress.IPv4Address) and g.primary_mac and g.device_token_expires.tzinfo


@case
def get_gateway_der_events(api, sim):
    for past in (False, True):
        events = walk(lambda **kw: api.get_gateway_der_events(GATEWAY, get_past_events=past, **kw),
                      DerEventPaginatedResponse, DerEvent)
        _check_der(events, past, [SITE])


@case
def get_gateway_volttron_agents(api, sim):
    agents = walk(lambda **kw: api.get_gateway_volttron_agents(GATEWAY, **kw),
                  VolttronAgentPaginatedResponse, VolttronAgent)
    identities = [a.identity for a in agents]
    assert len(identities) >= 2 and all(a.active and a.volttron_agent_package_id for a in agents)
    one = walk(lambda **kw: api.get_gateway_volttron_agents(GATEWAY, volttron_agent_identity=identities[-1], **kw),
               VolttronAgentPaginatedResponse, VolttronAgent)
    assert [a.identity for a in one] == identities[-1:]


@case
def get_gateway_hawke_configuration(api, sim):
    configs = walk(lambda **kw: api.get_gateway_hawke_configuration(GATEWAY, **kw),
                   HawkeConfigPaginatedResponse, HawkeConfigWithIdentity)
    assert len(configs) >= 1 and all(c.content_hash == sha256(c.content_blob) for c in configs)
    b64 = walk(lambda **kw: api.get_gateway_hawke_configuration(GATEWAY, use_base64_hash=True, **kw),
               HawkeConfigPaginatedResponse, HawkeConfigWithIdentity)
    assert [c.content_hash for c in b64] == [sha256(c.content_blob, b64=True) for c in configs]
    one = walk(lambda **kw: api.get_gateway_hawke_configuration(GATEWAY, hash=configs[-1].content_hash, **kw),
               HawkeConfigPaginatedResponse, HawkeConfigWithIdentity)
    assert [c.id for c in one] == [configs[-1].id]


@case
def get_gateway_hawke_agent_configuration(api, sim):
    listed = api.get_gateway_hawke_configuration(GATEWAY)["items"]
    for raw in listed:
        one = validated(HawkeConfigWithIdentity, api.get_gateway_hawke_agent_configuration(GATEWAY, raw["hawke_identity"]))
        assert one.id == raw["id"] and one.content_hash == sha256(one.content_blob)
        again = api.get_gateway_hawke_agent_configuration(GATEWAY, raw["hawke_identity"], hash=one.content_hash)
        assert again["id"] == one.id


@case
def get_gateway_agent_configs(api, sim):
    active = walk(lambda **kw: api.get_gateway_agent_configs(GATEWAY, **kw), AgentConfigPaginatedResponse, AgentConfig)
    every = walk(lambda **kw: api.get_gateway_agent_configs(GATEWAY, active=False, **kw),
                 AgentConfigPaginatedResponse, AgentConfig)
    assert active and all(c.active for c in active) and len(every) > len(active)
    assert all(c.config_hash == sha256(c.blob) for c in every)
    ident = active[0].agent_identity
    mine = walk(lambda **kw: api.get_gateway_agent_configs(GATEWAY, agent_identity=ident, use_base64_hash=True, **kw),
                AgentConfigPaginatedResponse, AgentConfig)
    assert [c.agent_identity for c in mine] == [ident] and mine[0].config_hash == sha256(mine[0].blob, b64=True)


@case
def get_gateway_pcap_list(api, sim):
    def fetch(start, end):
        return walk(lambda **kw: api.get_gateway_pcap_list(GATEWAY, iso(start), iso(end), **kw),
                    PaginatedResponse[str], str, per_page=2)
    files = fetch(DAY, DAY + timedelta(days=1))
    assert files == [f"{GATEWAY}_20250603T{h:02d}0000Z.pcap" for h in (0, 6, 12, 18)]
    assert len(fetch(DAY + timedelta(days=1), DAY + timedelta(days=2))) == 2  # none after NOW


@case
def download_gateway_pcap(api, sim):
    name = api.get_gateway_pcap_list(GATEWAY, iso(DAY), iso(DAY + timedelta(days=1)))["items"][1]
    data = api.download_gateway_pcap(GATEWAY, name)
    assert isinstance(data, bytes) and data[:4] == PCAP_MAGIC and len(data) >= 24
    with pytest.raises(APIError) as err:
        api.download_gateway_pcap(GATEWAY, f"{GATEWAY}_20990101T000000Z.pcap")
    assert err.value.status_code == 404


@case
def get_gateway_volttron_agent_config_package(api, sim):
    for raw in api.get_gateway_volttron_agents(GATEWAY)["items"]:
        body = api.get_gateway_volttron_agent_config_package(GATEWAY, raw["identity"])
        got = VolttronAgentConfigPackage.model_validate(body)
        assert_full_shape(VolttronAgentConfigPackage, body)
        validated(VolttronAgent, body["volttron_agent"])
        validated(AgentConfig, body["agent_config"])
        validated(VolttronAgentPackage, body["volttron_agent_package"])
        assert got.volttron_agent.identity == got.agent_config.agent_identity == raw["identity"]
        assert got.volttron_agent_package.id == got.volttron_agent.volttron_agent_package_id
        assert got.agent_config.active and got.agent_config.config_hash == sha256(got.agent_config.blob)


@case
def get_points(api, sim):
    points = walk(api.get_points, PointPaginatedResponse, Point, per_page=50)
    assert [p.name for p in points] == [p["name"] for s in (SITE, OTHER_SITE) for p in sim.site(s).points()]
    for p in points:
        model = sim.site(p.site)
        assert (p.site_id, p.client_id) == (model.site_id, model.client_id)


@case
def get_point(api, sim):
    point = validated(Point, api.get_point(POINT))
    model = sim.site(SITE)
    assert (point.name, point.site, point.site_id, point.client_id) == (POINT, SITE, model.site_id, model.client_id)
    assert point.collect_enabled and point.collect_interval == 60


@case
def get_point_timeseries(api, sim):
    start, end = DAY, DAY + timedelta(hours=2)
    body = api.get_point_timeseries(POINT, iso(start), iso(end))
    TimeseriesResponse.model_validate(body)
    rows = sample_rows([validated(PointSample, s) for s in body["point_samples"]])
    assert rows == expected_rows(sim, SITE, start, end, {POINT}) and len(rows) == 120


@case
def get_points_timeseries(api, sim):  # a read sent as POST /points/get_timeseries
    start, end = DAY, DAY + timedelta(hours=1)
    names = [POINT, f"{CLIENT}/{SITE}/weather/temp", "bvdemo/no_such_site/x"]
    body = api.get_points_timeseries(names, iso(start), iso(end))
    TimeseriesResponse.model_validate(body)
    rows = sample_rows([validated(PointSample, s) for s in body["point_samples"]])
    assert rows == expected_rows(sim, SITE, start, end, set(names[:2])) and len(rows) == 60 + 12


PARAMS = [pytest.param(kind, name, id=f"{kind}.{name}")
          for kind, cls in CLIENT_KINDS.items() for name in CASES
          if hasattr(cls, name) and name not in NOT_IMPLEMENTED[cls]]


@pytest.mark.parametrize(("kind", "method"), PARAMS)
def test_read_endpoint_validates_into_the_package_models(contract_sim, sim_token, kind, method):
    CASES[method](make_api(kind, contract_sim, sim_token), contract_sim)
    statuses = {status for _, _, status in contract_sim.request_log}
    assert contract_sim.request_log and statuses <= {200, 404}, contract_sim.request_log


# ------------------------------------------------------------------------------ around the cases
def test_every_method_of_the_package_is_classified():
    """A new read method in a new package version fails here until it has a case."""
    for cls in CLIENT_KINDS.values():
        public = {n for n, _ in inspect.getmembers(cls, callable) if not n.startswith("_")}
        reads = public - WRITES - PLUMBING
        unknown = reads - set(CASES) - NOT_IMPLEMENTED[cls]
        assert not unknown, f"{cls.__name__}: methods without a contract case: {sorted(unknown)}"
        assert WRITES <= public, f"{cls.__name__}: listed writes gone: {sorted(WRITES - public)}"


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_unimplemented_reads_send_nothing(contract_sim, sim_token, kind):
    api = make_api(kind, contract_sim, sim_token)
    for name in sorted(NOT_IMPLEMENTED[CLIENT_KINDS[kind]]):
        args = (CLIENT, "some-id") if "client" in name else (GATEWAY, "x.pcap")
        with pytest.raises(NotImplementedError):
            getattr(api, name)(*args)
    assert contract_sim.request_log == []


@dataclass(frozen=True)
class Filter:
    created_after: str | None = None
    created_before: str | None = None
    updated_after: str | None = None
    updated_before: str | None = None

    def keeps(self, point: dict) -> bool:
        created, updated = (utc(datetime.fromisoformat(point[k])) for k in ("created", "updated"))
        bound = {k: utc(datetime.fromisoformat(v.replace("Z", "+00:00"))) for k, v in vars(self).items() if v}
        return (created >= bound.get("created_after", created) and created <= bound.get("created_before", created)
                and updated >= bound.get("updated_after", updated) and updated <= bound.get("updated_before", updated))


FILTERS = [
    Filter(created_after="2023-10-01T00:00:00Z"),
    Filter(created_before="2024-01-01T00:00:00"),
    Filter(updated_after="2024-06-01T00:00:00+00:00"),
    Filter(updated_before="2024-09-30T00:00:00Z"),
    Filter(created_after="2023-08-01T00:00:00Z", updated_before="2024-12-01T00:00:00Z"),
]


@pytest.mark.parametrize("method", ["get_site_points", "get_site_configured_points"])
@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: "+".join(k for k, v in vars(f).items() if v))
def test_point_listing_date_filters(contract_sim, sim_token, method, flt):
    api = make_api("APIClient", contract_sim, sim_token)
    model = contract_sim.site(SITE)
    every = model.points() if method == "get_site_points" else model.configured_points()
    expected = [p["name"] for p in every if flt.keeps(p)]
    assert 0 < len(expected) < len(every), "the filter must select a real subset"
    kwargs = {k: v for k, v in vars(flt).items() if v}
    got = walk(lambda **kw: getattr(api, method)(SITE, **kwargs, **kw), PointPaginatedResponse, Point, per_page=20)
    assert [p.name for p in got] == expected


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_unknown_names_are_404_and_a_wrong_key_401(contract_sim, sim_token, kind):
    api = make_api(kind, contract_sim, sim_token)
    for call in (lambda: api.get_client("nobody"), lambda: api.get_site("nowhere"),
                 lambda: api.get_gateway("gw-nowhere"), lambda: api.get_point("bvdemo/demo_office/nothing"),
                 lambda: api.get_site_points("nowhere"), lambda: api.get_gateway_volttron_agents("gw-nowhere"),
                 lambda: api.get_gateway_hawke_agent_configuration(GATEWAY, "hawke.nothing")):
        with pytest.raises(APIError) as err:
            call()
        assert err.value.status_code == 404 and "msg" in err.value.response_data
    wrong = make_api(kind, contract_sim, "not-the-token-" + secrets.token_urlsafe(16))
    with pytest.raises(APIError) as err:
        wrong.get_sites()
    assert err.value.status_code == 401 and sim_token not in str(err.value.response_data)


def test_raw_data_false_is_400_unless_buckets_are_served(make_ace_sim, sim_token):
    """The default simulator keeps refusing buckets (the project must always ask raw_data=true)."""
    api = APIClient(base_url=make_ace_sim(clock=SimClock(fixed=NOW)).base_url, api_key=sim_token)
    with pytest.raises(APIError) as err:
        api.get_site_timeseries_paginated(SITE, iso(DAY), iso(DAY + timedelta(hours=1)))
    assert err.value.status_code == 400 and "raw_data" in err.value.response_data["msg"]
