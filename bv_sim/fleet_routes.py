"""The /api routes under /clients and /gateways (read-only), served from `bv_sim.fleet`.

The project calls none of them; they complete the read surface of ACE's own client package
(`aceiot-models` `APIClient`), which the contract test drives against the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from bv_sim import fleet
from bv_sim.httpd import ApiError, Request, Response, json_response
from bv_sim.params import flag, flag_or, paged, parse_time
from bv_sim.sites import Site
from bv_sim.timeseries import to_us

if TYPE_CHECKING:
    from bv_sim.server import SimServer

NOT_FOUND = "The requested URL was not found on the server."


def handle(sim: "SimServer", req: Request, segs: list[str]) -> Response:
    """Route GET /clients... and GET /gateways... (segs: the path after /api, no trailing '')."""
    if req.method != "GET":
        raise ApiError(405, "The method is not allowed for the requested URL.")
    if segs == ["clients"]:
        return paged([fleet.client_dict(name, cid) for name, cid in sim.clients().items()], req.query)
    if segs == ["gateways"]:
        show_archived = flag(req.query.get("show_archived"))
        return paged([fleet.gateway_dict(s) for s in sim.sites.values() if show_archived or not s.spec.archived],
                     req.query)
    if segs[0] == "clients":
        client = segs[1]
        if client not in sim.clients():
            raise ApiError(404, f"Client {client} not found")
        route = CLIENT_ROUTES.get(tuple(segs[2:]))
        if route is not None:
            return route(sim, client, req)
    if segs[0] == "gateways":
        site = sim.gateway_site(segs[1])
        if site is None:
            raise ApiError(404, f"Gateway {segs[1]} not found")
        if len(segs) == 4 and segs[2] == "hawke_configuration":
            return hawke_agent_configuration(sim, site, req, segs[3])
        route = GATEWAY_ROUTES.get(tuple(segs[2:]))
        if route is not None:
            return route(sim, site, req)
    raise ApiError(404, NOT_FOUND)


# ---------------------------------------------------------------- /clients/<client>/...
def client_detail(sim: "SimServer", client: str, req: Request) -> Response:
    return json_response(200, fleet.client_dict(client, sim.clients()[client]))


def client_sites(sim: "SimServer", client: str, req: Request) -> Response:
    q = req.query
    sites = [s for s in sim.sites.values() if s.client == client
             and (flag(q.get("show_archived")) or not s.spec.archived)
             and (not flag(q.get("collect_enabled")) or s.has_configured_points)]
    return paged([s.site_dict() for s in sites], q)


def _der(sim: "SimServer", client: str, req: Request, only_site: str | None) -> Response:
    q = req.query
    now = sim.clock.now()
    sites = [s for s in sim.sites.values() if s.client == client]
    events = fleet.select_der_events(fleet.der_events(client, sites, now), now,
                                     flag(q.get("get_past_events")), q.get("group_name") or None)
    if only_site is not None:
        events = [e for e in events if e["group_name"] == only_site]
    return paged(events, q)


def client_der_events(sim: "SimServer", client: str, req: Request) -> Response:
    return _der(sim, client, req, None)


def client_package_list(sim: "SimServer", client: str, req: Request) -> Response:
    q = req.query
    # The package spells the filter `voltron_agent_package_name`; accept the right spelling too.
    name = q.get("voltron_agent_package_name") or q.get("volttron_agent_package_name")
    items = [p for p in fleet.package_dicts(client) if name is None or p["package_name"] == name]
    return paged(items, q)


# ---------------------------------------------------------------- /gateways/<gateway>/...
def gateway_detail(sim: "SimServer", site: Site, req: Request) -> Response:
    return json_response(200, fleet.gateway_dict(site))


def gateway_der_events(sim: "SimServer", site: Site, req: Request) -> Response:
    return _der(sim, site.client, req, site.name)


def volttron_agents(sim: "SimServer", site: Site, req: Request) -> Response:
    ident = req.query.get("volttron_agent_identity") or None
    return paged([a for a in fleet.agent_dicts(site) if ident is None or a["identity"] == ident], req.query)


def agent_configs(sim: "SimServer", site: Site, req: Request) -> Response:
    q = req.query
    ident = q.get("agent_identity") or None
    active_only = flag_or(q, "active", True)  # active=false: active and superseded configs
    items = [c for c in fleet.agent_config_dicts(site, flag(q.get("use_base64_hash")))
             if (ident is None or c["agent_identity"] == ident) and (not active_only or c["active"])]
    return paged(items, q)


def hawke_configuration(sim: "SimServer", site: Site, req: Request) -> Response:
    q = req.query
    want = q.get("hash") or None
    items = [h for h in fleet.hawke_dicts(site, flag(q.get("use_base64_hash")))
             if want is None or h["content_hash"] == want]
    return paged(items, q)


def hawke_agent_configuration(sim: "SimServer", site: Site, req: Request, agent: str) -> Response:
    q = req.query
    want = q.get("hash") or None
    for h in fleet.hawke_dicts(site, flag(q.get("use_base64_hash"))):
        if agent in (h["hawke_identity"], h["id"]):
            if want is not None and h["content_hash"] != want:
                raise ApiError(404, f"Hawke configuration {agent} has no version with hash {want}")
            return json_response(200, h)
    raise ApiError(404, f"Hawke agent {agent} not found")


def agent_config_package(sim: "SimServer", site: Site, req: Request) -> Response:
    q = req.query
    ident = q.get("volttron_agent_identity")
    if not ident:
        raise ApiError(400, "volttron_agent_identity is required")
    agent = next((a for a in fleet.agent_dicts(site) if a["identity"] == ident), None)
    if agent is None:
        raise ApiError(404, f"Volttron agent {ident} not found")
    config = next(c for c in fleet.agent_config_dicts(site, flag(q.get("use_agent_config_base64_hash")))
                  if c["agent_identity"] == ident and c["active"])
    package = next(p for p in fleet.package_dicts(site.client) if p["id"] == agent["volttron_agent_package_id"])
    return json_response(200, {"volttron_agent": agent, "agent_config": config, "volttron_agent_package": package})


def pcap_list(sim: "SimServer", site: Site, req: Request) -> Response:
    q = req.query
    start = parse_time(q.get("start_time"), "start_time")
    end = parse_time(q.get("end_time"), "end_time")
    if end < start:
        raise ApiError(400, "end_time must not be before start_time")
    end = min(end, to_us(sim.clock.now()))  # a capture file exists once it has begun
    return paged(fleet.pcap_files(site, start, end), q)


def pcap_download(sim: "SimServer", site: Site, req: Request) -> Response:
    name = req.query.get("file_name")
    if not name:
        raise ApiError(400, "file_name is required")
    start = fleet.pcap_start_us(site, name)
    if start is None or start >= to_us(sim.clock.now()):
        raise ApiError(404, f"No pcap file {name}")
    return Response(200, fleet.PCAP_BYTES, content_type="application/vnd.tcpdump.pcap",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


CLIENT_ROUTES: dict[tuple[str, ...], Callable[["SimServer", str, Request], Response]] = {
    (): client_detail,
    ("sites",): client_sites,
    ("der_events",): client_der_events,
    ("volttron_agent_package", "list"): client_package_list,
}

GATEWAY_ROUTES: dict[tuple[str, ...], Callable[["SimServer", Site, Request], Response]] = {
    (): gateway_detail,
    ("der_events",): gateway_der_events,
    ("volttron_agents",): volttron_agents,
    ("agent_configs",): agent_configs,
    ("hawke_configuration",): hawke_configuration,
    ("volttron_agent_config_package",): agent_config_package,
    ("pcap", "list"): pcap_list,
    ("pcap",): pcap_download,
}
