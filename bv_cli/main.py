"""`bv`: the operator's command line (simulator, materialize, demo, status, query, serve)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from exc


def cmd_materialize(args) -> int:
    import dagster as dg

    from bv_assets.runner import materialize_site_days
    from bv_cli.home import ensure_dagster_home
    from bv_config.settings import Settings, parse_sites

    ensure_dagster_home()
    from bv_assets.definitions import build_defs

    with dg.DagsterInstance.get() as instance:
        try:
            settings = Settings.load()
            defs = build_defs(settings)
            sites = parse_sites(args.sites) if args.sites else settings.sites
            outcomes = materialize_site_days(
                instance, defs, sites, args.start, args.end or args.start, settings=settings,
                accept_partial=args.accept_partial, verbose=args.verbose,
            )
        except ValueError as exc:
            print(f"bv materialize: {exc}", file=sys.stderr)
            return 2
    failed = [o for o in outcomes if not o.success]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} runs succeeded")
    if failed:
        print("failed: " + ", ".join(o.what for o in failed), file=sys.stderr)
        return 1
    return 0


def cmd_sync(args) -> int:
    import dagster as dg

    from bv_assets.runner import sync_sites
    from bv_cli.home import ensure_dagster_home
    from bv_config.settings import Settings, parse_sites

    ensure_dagster_home()
    from bv_assets.definitions import build_defs

    try:
        settings = Settings.load()
        sites = parse_sites(args.sites) if args.sites else settings.sites
    except ValueError as exc:
        print(f"bv sync: {exc}", file=sys.stderr)
        return 2
    defs = build_defs(settings)
    with dg.DagsterInstance.get() as instance:
        outcomes = sync_sites(instance, defs, sites, settings=settings, verbose=args.verbose)
    for outcome in outcomes:
        d = outcome.details
        if d:
            print(f"  {outcome.what}: window {d.get('window_start')} .. {d.get('window_end')}, "
                  f"{d.get('dagster/row_count')} samples, lag {d.get('lag_seconds')} s, cursor {d.get('cursor_after')}")
    return 1 if any(not o.success for o in outcomes) else 0


def cmd_backfill(args) -> int:
    import time

    from bv_cli.backfill import CONFIRM_ABOVE_SITE_DAYS, BackfillClient, BackfillError, backfill_size
    from bv_config.settings import Settings, parse_sites

    try:
        with BackfillClient(args.url) as client:
            if args.action == "status":
                if not args.id:
                    for item in client.recent():
                        print(f"{item['id']}  {item['status']:<18} {item['numPartitions'] or 0:>5} partitions")
                    return 0
                status = client.status(args.id)
                while args.wait and not status.done:
                    time.sleep(5)
                    status = client.status(args.id)
                print(f"backfill {status.backfill_id}: {status.status}, {status.partitions} partitions")
                for asset, counts in status.per_asset.items():
                    print(f"  {asset:<20} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
                return 0 if not status.done or status.succeeded else 1
            if args.action == "cancel":
                if not args.id:
                    print("bv backfill cancel: give the backfill id", file=sys.stderr)
                    return 2
                client.cancel(args.id)
                print(f"backfill {args.id}: cancel requested")
                return 0
            if not args.start:
                print("bv backfill: --start is required to launch a backfill", file=sys.stderr)
                return 2
            settings = Settings.load()
            sites = parse_sites(args.sites) if args.sites else settings.sites
            end = args.end or args.start
            size = backfill_size(settings, sites, args.start, end)
            print(size.text(), file=sys.stderr)
            if size.site_days > CONFIRM_ABOVE_SITE_DAYS and not args.yes:
                print(f"bv backfill: more than {CONFIRM_ABOVE_SITE_DAYS} site-days; add --yes to launch it", file=sys.stderr)
                return 2
            backfill_id = client.launch(sites, args.start, end)
            print(backfill_id)
            return 0
    except BackfillError as exc:
        print(f"bv backfill: {exc}", file=sys.stderr)
        return 1


def cmd_status(args) -> int:
    from bv_cli.status import print_archive_summary
    from bv_config.settings import Settings

    return print_archive_summary(Settings.from_env())


def cmd_demo(args) -> int:
    from bv_cli.demo import run_demo

    return run_demo(days=args.days, ui=not args.no_ui, port=args.port, sim_port=args.sim_port)


def cmd_ui(args) -> int:
    from bv_cli.home import dagster_dev_command, ensure_dagster_home
    from bv_cli.process_group import run_as_group

    home = ensure_dagster_home()
    print(f"DAGSTER_HOME {home}\nDagster UI   http://{args.host}:{args.port}", flush=True)
    # Its own process group, stopped whole on SIGTERM/SIGINT (no webserver or grpc left behind).
    return run_as_group(dagster_dev_command(sys.executable, args.host, args.port), env=os.environ.copy())


def cmd_verify(args) -> int:
    from bv_cli.verify import run_verify

    return run_verify(args)


def cmd_sites(args) -> int:
    from bv_cli.sites import run_sites

    return run_sites(args)


def cmd_config(args) -> int:
    import json

    from bv_config.settings import Settings, SettingsError

    try:
        rows = Settings.load().describe()
    except SettingsError as exc:
        print(f"bv config: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["variable"]) for r in rows)
    vwidth = min(48, max(len(r["value"]) for r in rows))
    print(f"{'variable':<{width}}  {'value':<{vwidth}}  {'source':<11}  meaning")
    for r in rows:
        print(f"{r['variable']:<{width}}  {r['value']:<{vwidth}}  {r['source']:<11}  {r['meaning']}")
    print(f"{'ACE_API_KEY':<{width}}  {'***' if os.environ.get('ACE_API_KEY') else '(unset)':<{vwidth}}  "
          f"{'environment':<11}  FlightDeck token (secret; environment only)")
    return 0


def cmd_sim(args) -> int:
    from bv_sim import cli as sim_cli

    return sim_cli.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bv", description="Building Vitals: BMS sensor history on Dagster")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print Dagster's own log and full stack traces (the run's log always has them)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("materialize", help="run raw_site_day + archived_site_day (and checks) for site-days")
    p.add_argument("--sites", help="comma-separated site names (default: BV_SITES)")
    p.add_argument("--start", type=_date, required=True, help="first UTC day, YYYY-MM-DD")
    p.add_argument("--end", type=_date, help="last UTC day, inclusive (default: --start)")
    p.add_argument("--accept-partial", action="store_true",
                   help="a known partial day: pass points_seen_floor, recorded in the check (run tag bv/accept_partial)")
    p.set_defaults(func=cmd_materialize)

    p = sub.add_parser(
        "backfill", help="launch / watch / cancel a partition backfill on a running Dagster webserver"
    )
    p.add_argument("action", nargs="?", choices=["launch", "status", "cancel"], default="launch")
    p.add_argument("id", nargs="?", help="backfill id (status, cancel)")
    p.add_argument("--sites", help="comma-separated site names (default: BV_SITES)")
    p.add_argument("--start", type=_date, help="first UTC day, YYYY-MM-DD")
    p.add_argument("--end", type=_date, help="last UTC day, inclusive (default: --start)")
    p.add_argument("--url", default="http://127.0.0.1:3000", help="Dagster webserver URL")
    p.add_argument("--wait", action="store_true", help="with status: wait until the backfill is done")
    p.add_argument("--yes", action="store_true", help="launch even a large backfill (its size is printed first)")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("sync", help="one live-sync tick per site (the 5-minute schedule's work), as Dagster runs")
    p.add_argument("--sites", help="comma-separated site names (default: BV_SITES)")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("status", help="print what the archive holds, per site and day (via DuckDB)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("demo", help="embedded demo: simulator + local storage + Dagster, then the UI")
    p.add_argument("--days", type=int, default=3, help="closed days to backfill (default 3)")
    p.add_argument("--no-ui", action="store_true", help="stop after the backfill instead of serving the UI")
    p.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    p.add_argument("--sim-port", type=int, default=8765, help="simulator port")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ui", help="Dagster webserver + daemon (sensors, backfills) on the bv instance")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("verify", help="re-run the checks over stored partitions (no ACE call); exit 1 on any failure")
    p.add_argument("--sites", help="comma-separated site names (default: BV_SITES)")
    p.add_argument("--start", type=_date, required=True, help="first UTC day, YYYY-MM-DD")
    p.add_argument("--end", type=_date, help="last UTC day, inclusive (default: --start)")
    p.add_argument("--against-ace", action="store_true", help="also re-fetch each day from ACE and diff (stores nothing)")
    p.add_argument("--accept-partial", action="store_true", help="accept days below BV_MIN_POINTS_SEEN")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("sites", help="list the registered site partitions, or remove a stray one")
    p.add_argument("action", nargs="?", choices=["list", "remove"], default="list")
    p.add_argument("name", nargs="?", help="with remove: the site partition")
    p.set_defaults(func=cmd_sites)

    p = sub.add_parser("config", help="print the effective configuration, where each value came from (secrets masked)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("sim", help="run the ACE FlightDeck simulator")
    try:
        from bv_sim import cli as sim_cli

        sim_cli.add_arguments(p)
    except ImportError:  # pragma: no cover - the simulator ships with the package
        pass
    p.set_defaults(func=cmd_sim)

    from bv_cli import query as query_cli

    query_cli.add_arguments(sub)
    from bv_cli import health as health_cli  # bv health (bv_cli/health.py)

    health_cli.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Dagster's beta warnings are filtered where Dagster is imported (bv_assets); the query
    # commands never import Dagster at all.
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line naming what failed; the trace only on --verbose
        if args.verbose:
            raise
        print(f"bv {args.command}: {type(exc).__name__}: {exc}  (--verbose for the trace)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
