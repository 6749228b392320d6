"""The ACE simulator with N synthetic sites, for benchmarks/backfill_bench.py.

    ACE_API_KEY=<token> .venv/bin/python benchmarks/backfill_sim.py --port P --sites 4 --points 300 [--latency-s 0.5]

`python -m bv_sim` serves only the demo sites and one reference site; the backfill curve needs
1, 4, 16 ... sites of one size. Each site is `bv_sim.sites.reference_site` (every point
collect-enabled, one sample a minute) named `bench_site_01`, `bench_site_02`, ...; the server is
the simulator's own `SimServer` (threaded HTTP on loopback). `--latency-s` is the simulator's
`slow_s` fault: every /api request waits that long before it is answered (the simulator has no
other pacing option: no requests-per-minute quota).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def site_names(n: int) -> list[str]:
    return [f"bench_site_{i:02d}" for i in range(1, n + 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sites", type=int, required=True)
    parser.add_argument("--points", type=int, required=True)
    parser.add_argument("--latency-s", type=float, default=0.0)
    args = parser.parse_args(argv)

    from bv_sim.faults import FaultConfig
    from bv_sim.server import SimServer
    from bv_sim.sites import reference_site

    token = os.environ.get("ACE_API_KEY")
    if not token:
        print("backfill_sim: set ACE_API_KEY", file=sys.stderr)
        return 2
    sites = [reference_site(n_points=args.points, name=name) for name in site_names(args.sites)]
    srv = SimServer(host="127.0.0.1", port=args.port, token=token, sites=sites,
                    faults=FaultConfig(slow_s=args.latency_s))
    stopping = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stopping.set())
    srv.start()
    print(f"ACE simulator on {srv.base_url}: {args.sites} sites x {args.points} points, "
          f"latency {args.latency_s} s per request", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
