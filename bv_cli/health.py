"""`bv health --site S [--date D]`: a site-day's point health (summary and worst points).

Reads the `health/` file the point_health asset wrote, through the query layer (no Dagster).
Exit status: 0 when the file exists, 1 when there is none for that day.
"""

from __future__ import annotations

import json
import sys
from datetime import date


def add_arguments(sub) -> None:
    p = sub.add_parser("health", help="print a site-day's point health: counts per status and the worst points")
    p.add_argument("--site", required=True)
    p.add_argument("--date", help="UTC day, YYYY-MM-DD (default: the newest day with a health file)")
    p.add_argument("--limit", type=int, default=20, help="worst points to list (default 20)")
    p.add_argument("--json", action="store_true", help="the API's JSON answer instead of a table")
    p.set_defaults(func=run_health)


def _cell(text: str, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def run_health(args) -> int:
    from bv_config.settings import Settings
    from bv_query.engine import QueryEngine
    from bv_query.errors import QueryError
    from bv_query.health import day_report

    settings = Settings.load()
    engine = QueryEngine.from_settings(settings)
    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        print(f"bv health: --date {args.date!r} is not a YYYY-MM-DD date", file=sys.stderr)
        return 2
    try:
        report = day_report(engine, args.site, day)
    except QueryError as exc:
        print(f"bv health: {exc.message}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    s = report["summary"]
    total = sum(s.values())
    print(f"point health of {report['site']} on {report['date']} (UTC): {total} points")
    print(f"  ok {s['ok']}   degraded {s['degraded']}   dead {s['dead']}")
    worst = [p for p in report["points"] if p["status"] != "ok"][: max(args.limit, 0)]
    if not worst:
        print("  every point is ok")
        return 0
    print(f"\nworst {len(worst)} of {s['degraded'] + s['dead']} not ok:")
    print(f"  {'status':<9} {'samples':>8} {'expected':>8}  {'point':<44} reason")
    for p in worst:
        expected = "" if p["expected"] is None else p["expected"]
        print(f"  {p['status']:<9} {p['samples']:>8} {expected:>8}  {_cell(p['display_name'], 44):<44} {p['reason']}")
    return 0
