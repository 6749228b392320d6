"""`bv query` (print a table or write CSV/Parquet) and `bv serve` (the HTTP API + chart page)."""

from __future__ import annotations

import sys

from bv_query import QueryEngine, QueryError


def run_query(args) -> int:
    engine = QueryEngine.from_settings()
    try:
        result = engine.query(
            args.site, args.points, args.start, args.end,
            interval=args.interval, agg=args.agg, tz=args.tz, fill=args.fill, max_points=args.max_points,
        )
    except QueryError as exc:
        print(f"bv query: {exc.parameter}: {exc.message}", file=sys.stderr)
        return 2
    meta = result.metadata
    if args.output:
        from bv_query import render

        fmt = args.format or ("parquet" if args.output.endswith(".parquet") else "csv")
        writer = {"csv": render.csv_bytes, "parquet": render.parquet_bytes, "json": render.json_bytes}[fmt]
        with open(args.output, "wb") as handle:
            handle.write(writer(result))
        print(f"wrote {meta['rows']} rows to {args.output} ({fmt})", file=sys.stderr)
    elif args.format == "csv":
        from bv_query import render

        sys.stdout.write(render.csv_bytes(result).decode())
    elif args.format == "json":
        from bv_query import render

        sys.stdout.write(render.json_bytes(result).decode() + "\n")
    else:
        frame = result.to_pandas()
        if not frame.empty:
            frame["ts"] = frame["ts"].dt.tz_convert(str(result.request.tz))
        import pandas as pd

        with pd.option_context("display.max_rows", args.max_rows, "display.width", 200, "display.max_colwidth", 60):
            print(frame.to_string(index=False) if len(frame) <= args.max_rows else frame)
    print(
        f"{meta['rows']} rows, interval {meta['interval']}, source {meta['source']}, "
        f"{meta['files_read']} files, {meta['query_time_ms']} ms"
        + (f"; unknown points: {', '.join(meta['unknown_points'])}" if meta["unknown_points"] else ""),
        file=sys.stderr,
    )
    return 0


def serve(args) -> int:
    import uvicorn

    from bv_query.serve_app import create_serve_app

    # Access logs carry the query string only (never the Authorization header).
    options = dict(host=args.host, port=args.port, log_level=args.log_level, access_log=not args.no_access_log,
                   timeout_keep_alive=args.keep_alive)
    if args.workers > 1:
        # Worker processes each build the app (and their own DuckDB) from the environment.
        uvicorn.run("bv_query.serve_app:create_serve_app", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(create_serve_app(), **options)
    return 0


def add_arguments(sub) -> None:
    p = sub.add_parser("query", help="query points over a time range (table, CSV, Parquet or JSON)")
    p.add_argument("--site", required=True)
    p.add_argument("--points", required=True, nargs="+", help="point names (space- or comma-separated)")
    p.add_argument("--start", required=True, help="ISO 8601 (zone or naive UTC), epoch s or epoch ms")
    p.add_argument("--end", required=True, help="exclusive end, same formats")
    p.add_argument("--interval", default="raw", help="raw, 1min, 5min, 15min, 1h, 1d, auto")
    p.add_argument("--agg", default="avg", help="avg, min, max, first, last, count, sum")
    p.add_argument("--tz", default="UTC", help="IANA time zone for buckets and printed times")
    p.add_argument("--fill", default="null", help="null, locf, linear")
    p.add_argument("--max-points", default=None)
    p.add_argument("--format", choices=["table", "csv", "json", "parquet"], default=None)
    p.add_argument("--output", "-o", help="write to this file (CSV, or Parquet for .parquet)")
    p.add_argument("--max-rows", type=int, default=60, help="table rows to print before eliding")
    p.set_defaults(func=_query_entry)

    p = sub.add_parser("serve", help="HTTP query API and chart page (uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--log-level", default="info")
    p.add_argument("--no-access-log", action="store_true")
    p.add_argument("--workers", type=int, default=1, help="worker processes (stateless; scale with cores)")
    # Longer than the idle timeout of clients (httpx 5 s) and load balancers (AWS ALB 60 s): with
    # uvicorn's 5 s the server can close a kept-alive connection just as a request arrives on it
    # (a client probing at 5 s idle hit it once in 120 requests; the soak had one such reset).
    p.add_argument("--keep-alive", type=int, default=75, help="seconds an idle keep-alive connection stays open")
    p.set_defaults(func=serve)


def _query_entry(args) -> int:
    args.points = [p for chunk in args.points for p in chunk.split(",") if p.strip()]
    if args.format == "parquet" and not args.output:
        print("bv query: --format parquet needs --output FILE", file=sys.stderr)
        return 2
    return run_query(args)
