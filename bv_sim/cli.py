"""`bv sim` / `python -m bv_sim`: run the ACE FlightDeck simulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import datetime

from bv_sim.catalog import default_sites
from bv_sim.clock import SimClock
from bv_sim.faults import FaultConfig
from bv_sim.sites import reference_site


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free port)")
    parser.add_argument("--token", default=None,
                        help="the bearer token clients must send (default: $ACE_API_KEY)")
    parser.add_argument("--sites", choices=["demo", "reference", "demo+reference"], default="demo",
                        help="demo: demo_office + demo_school; reference: ref_site (default demo)")
    parser.add_argument("--reference-points", type=int, default=4583, metavar="N",
                        help="points of the reference site (default 4583, one sample a minute each)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[=VALUE]",
                        help="inject a fault, repeatable: reject_token, rate_limit_every=N, retry_after_s=S, "
                             "server_error_every=N, truncate_above_page_size=N, slow_s=X, resend_overlap=K, "
                             "empty_window=404|200, empty_page_every=N")
    parser.add_argument("--clock", default=None, metavar="ISO",
                        help="freeze the clock at this time (default: real time)")
    parser.add_argument("--serve-buckets", action="store_true",
                        help="answer paginated timeseries without raw_data=true with 5-minute buckets "
                             "(default: 400, the project always asks raw samples)")
    return parser


def build_server(args):
    from bv_sim.server import SimServer

    token = args.token or os.environ.get("ACE_API_KEY")
    if not token:
        raise ValueError("no token: pass --token or set ACE_API_KEY")
    sites = []
    if "demo" in args.sites.split("+"):
        sites += default_sites()
    if "reference" in args.sites.split("+"):
        sites.append(reference_site(n_points=args.reference_points))
    clock = SimClock()
    if args.clock:
        clock = SimClock(fixed=datetime.fromisoformat(args.clock.replace("Z", "+00:00")))
    faults = FaultConfig.parse_cli(args.fault)
    return SimServer(host=args.host, port=args.port, token=token, sites=sites, clock=clock, faults=faults,
                     serve_buckets=getattr(args, "serve_buckets", False))


def run(args) -> int:
    try:
        srv = build_server(args)
    except ValueError as exc:
        print(f"bv sim: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def _stop(signum, frame):
        if not stopping.is_set():
            stopping.set()
            # shutdown() waits for serve_forever to return, so it must not run on that thread.
            threading.Thread(target=srv.stop, daemon=True).start()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        srv.start()
        print(f"ACE simulator listening on {srv.base_url}", flush=True)
        for site in srv.sites.values():
            print(f"  site {site.name:<16} client {site.client:<8} {len(site.point_specs):>6} points, "
                  f"{len(site.configured_points()):>6} configured", flush=True)
        if srv.faults.active:
            print(f"  faults {srv.faults.to_dict()}", flush=True)
        print(f"  clock {'real time' if srv.clock.real_time else srv.clock.now().isoformat()}", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        srv.stop()
        for s, h in old.items():
            signal.signal(s, h)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="python -m bv_sim", description=__doc__))
    return run(parser.parse_args(argv))
