"""`SimServer`: the ACE FlightDeck simulator, a real HTTP/1.1 server on loopback.

It follows docs/ace-api.md. Routes under /api (`bv_sim.api_routes`) need
`Authorization: Bearer <token>`; routes under /_sim (`bv_sim.admin_routes`) steer a running
simulator (clock, faults, state) and need no auth. The HTTP plumbing is in `bv_sim.httpd`.
"""

from __future__ import annotations

import secrets
import threading

from bv_sim import admin_routes, api_routes, fleet
from bv_sim.catalog import default_sites
from bv_sim.clock import SimClock
from bv_sim.faults import FaultConfig, FaultCounters
from bv_sim.httpd import SimHTTPServer
from bv_sim.sites import Site, SiteSpec


class SimServer:
    """The simulator on a background thread. `port=0` picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 sites: list[SiteSpec | Site] | None = None, clock: SimClock | None = None,
                 faults: FaultConfig | None = None, serve_buckets: bool = False):
        self.host = host
        self.port = port
        self.token = token if token is not None else secrets.token_urlsafe(32)
        specs = default_sites() if sites is None else sites
        self.sites: dict[str, Site] = {}
        for s in specs:
            model = s.model() if isinstance(s, SiteSpec) else s
            if model.name in self.sites:
                raise ValueError(f"duplicate site {model.name}")
            self.sites[model.name] = model
        self._point_index = {n: (site, i) for site in self.sites.values() for n, i in site.index.items()}
        self._clients: dict[str, int] = {}
        for site in self.sites.values():
            if self._clients.setdefault(site.client, site.client_id) != site.client_id:
                raise ValueError(f"client {site.client}: sites disagree on its client_id")
        self._gateways = {fleet.gateway_name(site): site for site in self.sites.values()}
        # raw_data absent/false on the paginated timeseries: 5-minute buckets (True) or 400 (False)
        self.serve_buckets = serve_buckets
        self.clock = clock or SimClock()
        self._faults = faults or FaultConfig()
        self._counters = FaultCounters()
        self._log_lock = threading.Lock()
        self.request_log: list[tuple[str, str, int]] = []
        self._httpd: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def _make_httpd(self) -> SimHTTPServer:
        return SimHTTPServer((self.host, self.port), self, api_routes.handle, admin_routes.handle)

    def start(self) -> "SimServer":
        self._httpd = self._make_httpd()
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"bv-sim:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_open_sockets()  # idle keep-alive connections would otherwise linger
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve on the calling thread (the CLI); returns after stop() from another thread."""
        self._httpd = self._make_httpd()
        self.port = self._httpd.server_address[1]
        self._httpd.serve_forever(poll_interval=0.2)

    def __enter__(self) -> "SimServer":
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.port}/_sim"

    # ------------------------------------------------------------------ steering
    @property
    def faults(self) -> FaultConfig:
        return self._faults

    @property
    def counters(self) -> FaultCounters:
        """The fault counters since the faults were last set."""
        return self._counters

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Replace the faults and restart their counters (so "every Nth" is reproducible)."""
        self._counters = FaultCounters()
        self._faults = faults or FaultConfig()

    def site(self, name: str) -> Site:
        return self.sites[name]

    def site_or_none(self, name: str) -> Site | None:
        return self.sites.get(name)

    def find_point(self, name: str) -> tuple[Site, int] | None:
        return self._point_index.get(name)

    def clients(self) -> dict[str, int]:
        """Client name -> client_id, in site order."""
        return dict(self._clients)

    def gateway_site(self, name: str) -> Site | None:
        """The site of a gateway name (one gateway per site, `gw-<site>`)."""
        return self._gateways.get(name)

    def log_request(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self.request_log.append((method, path, status))

    def reset_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()

    def state(self) -> dict:
        return {
            "base_url": self.base_url,
            "now": self.clock.now().isoformat(),
            "real_time": self.clock.real_time,
            "faults": self._faults.to_dict(),
            "serve_buckets": self.serve_buckets,
            "counters": self._counters.to_dict(),
            "requests": len(self.request_log),
            "sites": [{"name": s.name, "client": s.client, "gateway": fleet.gateway_name(s), "points": len(s.point_specs),
                       "configured_points": len(s.configured_points())} for s in self.sites.values()],
        }

    def __repr__(self) -> str:  # never shows the token
        return f"SimServer({self.base_url}, sites={list(self.sites)})"
