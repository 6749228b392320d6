"""The rest of a FlightDeck account, derived from the sites: clients, gateways and what
hangs off them (DER events, VOLTTRON agents, packages and configs, Hawke configs, PCAP files).

The project never reads any of it; the simulator serves it so ACE's own client package
(`aceiot-models`) can be pointed at the simulator over every read endpoint it offers
(tests/integration/test_ace_contract.py). Everything is a pure function of the site list
(and, for DER events and PCAP files, of the simulator clock): the same request always gets
the same answer.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson

from bv_sim.sites import CREATED, UPDATED, Site
from bv_sim.timeseries import US, format_time_us, to_us

_NS = uuid.UUID("6f1d3c2e-9b7a-4c1e-8f3d-2a5b6c7d8e9f")  # namespace of the simulator's UUIDs
PCAP_EVERY_US = 6 * 3600 * US  # a gateway keeps one capture file per 6 hours
PCAP_BYTES = bytes.fromhex("d4c3b2a1" "0200" "0400" "00000000" "00000000" "ffff0000" "01000000")  # empty pcap


def sim_uuid(*parts: object) -> str:
    return str(uuid.uuid5(_NS, "/".join(map(str, parts))))


def sha256_text(content: str, use_base64: bool) -> str:
    digest = hashlib.sha256(content.encode()).digest()
    return base64.b64encode(digest).decode("ascii") if use_base64 else digest.hex()


# ---------------------------------------------------------------- clients and gateways
def client_dict(name: str, client_id: int) -> dict:
    return {"id": client_id, "name": name, "nice_name": f"{name.upper()} (simulated)",
            "address": "1 Simulation Way, Omaha, NE 68102", "tech_contact": f"ops@{name}.example",
            "bus_contact": f"billing@{name}.example", "created": CREATED, "updated": UPDATED}


def gateway_name(site: Site) -> str:
    return f"gw-{site.name}"


def gateway_dict(site: Site) -> dict:
    h = zlib.crc32(site.name.encode())
    mac = ":".join(f"{b:02x}" for b in (0x02, 0xAC, 0xE0, (h >> 16) & 0xFF, (h >> 8) & 0xFF, h & 0xFF))
    return {
        "id": site.site_id * 10 + 1, "name": gateway_name(site),
        "site": site.name, "site_id": site.site_id, "client": site.client, "client_id": site.client_id,
        "hw_type": "ACE IoT Edge", "software_type": "volttron", "primary_mac": mac,
        "vpn_ip": f"10.{8 + h % 8}.{(h >> 3) % 256}.{1 + (h >> 11) % 254}",
        "device_token": None, "device_token_expires": "2026-01-06T09:03:54.120877",
        "interfaces": {"eth0": {"dhcp": True, "mac": mac}, "eth1": {"address": "192.168.1.250/24"}},
        "deploy_config": {"volttron_version": "9.0", "bacnet": {"networks": [site.site_id]}},
        "archived": site.spec.archived, "created": CREATED, "updated": UPDATED,
    }


# ---------------------------------------------------------------- DER events
DER_TIMEZONE = "America/Chicago"
_DER_EVENTS = (
    # (day relative to today, start hour UTC, hours, event type, title)
    (-1, 19, 4, "demand_response", "Peak shave"),
    (0, 19, 4, "demand_response", "Peak shave"),
    (1, 14, 2, "load_shed", "Utility curtailment test"),
)


def der_events(client: str, sites: list[Site], now: datetime) -> list[dict]:
    """A client's DER events around `now`: yesterday's, today's and tomorrow's, one per site
    (group_name = the site name), ordered by start then site."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for day, hour, hours, kind, title in _DER_EVENTS:
        start = today + timedelta(days=day, hours=hour)
        for site in sites:
            out.append({
                "id": sim_uuid("der", client, site.name, start.isoformat()), "client": client,
                "group_name": site.name, "timezone": DER_TIMEZONE,
                "event_start": start.replace(tzinfo=None).isoformat(),
                "event_end": (start + timedelta(hours=hours)).replace(tzinfo=None).isoformat(),
                "event_type": kind, "title": title, "description": f"{title} for {site.name}",
                "cancelled": False, "created_by_user": f"ops@{client}.example",
                "created": (start - timedelta(days=2)).replace(tzinfo=None).isoformat(),
                "updated": (start - timedelta(days=2)).replace(tzinfo=None).isoformat(),
            })
    return out


def select_der_events(events: list[dict], now: datetime, past: bool, group: str | None) -> list[dict]:
    """Current and upcoming events (event_end > now); with `past` also those that ended in
    the last 24 hours; with `group` only that group_name."""
    now_naive = now.astimezone(timezone.utc).replace(tzinfo=None)
    floor = now_naive - timedelta(hours=24) if past else now_naive
    return [e for e in events
            if datetime.fromisoformat(e["event_end"]) > floor and (group is None or e["group_name"] == group)]


# ---------------------------------------------------------------- VOLTTRON
@dataclass(frozen=True)
class AgentSpec:
    identity: str
    package_name: str
    revision: str
    config: dict = field(default_factory=dict)


AGENTS = (
    AgentSpec("bacnet_proxy", "bacnet_proxy_agent", "0.5", {"device_address": "0.0.0.0/24", "max_apdu_length": 1024}),
    AgentSpec("platform_driver", "platform_driver_agent", "4.0", {"driver_scrape_interval": 0.05}),
    AgentSpec("ace_historian", "ace_mqtt_historian", "2.3", {"connection": {"host": "mqtt.aceiot.cloud"}}),
)


def package_dicts(client: str) -> list[dict]:
    names = sorted({a.package_name for a in AGENTS})
    return [{"id": sim_uuid("pkg", client, n), "package_name": n,
             "object_hash": sha256_text(f"{client}/{n}", False),
             "object_path": f"volttron_agent_packages/{client}/{n}.tar.gz",
             "description": f"{n} wheel bundle", "created": CREATED, "updated": UPDATED} for n in names]


def agent_dicts(site: Site) -> list[dict]:
    gw = gateway_name(site)
    return [{"id": sim_uuid("agent", gw, a.identity), "identity": a.identity, "package_name": a.package_name,
             "revision": a.revision, "tag": a.identity.split("_")[0], "active": True,
             "package_id": sim_uuid("pkg", site.client, a.package_name),
             "volttron_agent_package_id": sim_uuid("pkg", site.client, a.package_name),
             "created": CREATED, "updated": UPDATED} for a in AGENTS]


def agent_config_dicts(site: Site, use_base64_hash: bool) -> list[dict]:
    """Every agent's active config, plus one superseded (inactive) config of the first agent."""
    gw = gateway_name(site)
    out = []
    for a in AGENTS:
        blob = orjson.dumps({**a.config, "site": site.name}, option=orjson.OPT_SORT_KEYS).decode()
        out.append({"id": sim_uuid("cfg", gw, a.identity), "agent_identity": a.identity, "config_name": "config",
                    "config_hash": sha256_text(blob, use_base64_hash), "blob": blob, "active": True,
                    "created": CREATED, "updated": UPDATED})
    old = orjson.dumps({**AGENTS[0].config, "site": site.name, "max_apdu_length": 480},
                       option=orjson.OPT_SORT_KEYS).decode()
    out.append({"id": sim_uuid("cfg-old", gw, AGENTS[0].identity), "agent_identity": AGENTS[0].identity,
                "config_name": "config", "config_hash": sha256_text(old, use_base64_hash), "blob": old,
                "active": False, "created": CREATED, "updated": CREATED})
    return out


# ---------------------------------------------------------------- Hawke
HAWKE_IDENTITIES = ("hawke.modbus", "hawke.snmp")


def hawke_dicts(site: Site, use_base64_hash: bool) -> list[dict]:
    gw = gateway_name(site)
    out = []
    for ident in HAWKE_IDENTITIES:
        blob = f'[agent]\nidentity = "{ident}"\nsite = "{site.name}"\npoll_interval_s = 60\n'
        out.append({"id": sim_uuid("hawke", gw, ident), "hawke_identity": ident, "content_blob": blob,
                    "content_hash": sha256_text(blob, use_base64_hash), "created": CREATED, "updated": UPDATED})
    return out


# ---------------------------------------------------------------- PCAP
def pcap_files(site: Site, start_us: int, end_us: int) -> list[str]:
    """Capture files (one per 6 hours, named by their start) that began in [start, end)."""
    first = -(-start_us // PCAP_EVERY_US) * PCAP_EVERY_US
    gw = gateway_name(site)
    names = []
    for t in range(first, end_us, PCAP_EVERY_US):
        stamp = format_time_us(t)[:19].replace("-", "").replace(":", "")
        names.append(f"{gw}_{stamp}Z.pcap")
    return names


def pcap_start_us(site: Site, file_name: str) -> int | None:
    """The start time of a capture file name this gateway would have made, else None."""
    prefix = f"{gateway_name(site)}_"
    if not (file_name.startswith(prefix) and file_name.endswith("Z.pcap")):
        return None
    try:
        dt = datetime.strptime(file_name[len(prefix):-len("Z.pcap")], "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    t = to_us(dt.replace(tzinfo=timezone.utc))
    return t if t % PCAP_EVERY_US == 0 else None
