"""`bv verify`: the checks re-run over stored partitions as a Dagster run of verify_job (so it
shows in the UI), one line per partition; with --against-ace also a fresh fetch and diff."""

from __future__ import annotations

import sys
from collections import defaultdict


def run_verify(args) -> int:
    import dagster as dg

    from bv_assets.definitions import build_defs
    from bv_cli.home import ensure_dagster_home
    from bv_config.settings import Settings, parse_sites

    try:
        settings = Settings.load()
        sites = parse_sites(args.sites) if args.sites else list(settings.sites)
    except ValueError as exc:
        print(f"bv verify: {exc}", file=sys.stderr)
        return 2
    end = args.end or args.start
    if end < args.start:
        print(f"bv verify: --end {end} is before --start {args.start}", file=sys.stderr)
        return 2
    ensure_dagster_home()
    job = build_defs(settings).resolve_job_def("verify_job")
    config = {"sites": sites, "start": args.start.isoformat(), "end": end.isoformat(), "accept_partial": args.accept_partial}
    # The verdicts are printed below, one line each; the run's log keeps the full detail.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    run_config = {**quiet, "ops": {"verify_stored_partitions": {"config": config}}}
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
    by_partition: dict[tuple, list] = defaultdict(list)
    for evaluation in result.get_asset_check_evaluations():
        by_partition[(evaluation.asset_key.to_user_string(), evaluation.partition)].append(evaluation)
    failed = 0
    for (asset, partition), evaluations in sorted(by_partition.items(), key=lambda kv: (kv[0][1] or "", kv[0][0])):
        bad = [e for e in evaluations if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
        warn = [e.check_name for e in evaluations if not e.passed and e.severity == dg.AssetCheckSeverity.WARN]
        if bad:
            failed += 1
            # One line: the checks that failed and the first reason (the run's log has them all).
            print(f"FAILED {asset:<18} {partition}  {', '.join(e.check_name for e in bad)}: {bad[0].description}")
        else:
            print(f"ok     {asset:<18} {partition}  {len(evaluations)} checks passed"
                  + (f" (warn: {', '.join(warn)})" if warn else ""))
    if not by_partition and not result.success:
        from bv_assets.runner import error_text

        for event in result.get_step_failure_events():
            print(f"bv verify: {error_text(event.step_failure_data.error)}", file=sys.stderr)
        return 1
    if args.against_ace:
        failed += _against_ace(settings, sites, args.start, end)
    print(f"{len(by_partition)} stored partitions checked, {failed} failed (run {result.run_id[:8]})")
    return 1 if failed or not by_partition else 0


def _against_ace(settings, sites, start, end) -> int:
    import os

    from bv_ace.client import AceClient
    from bv_pipeline.verify_store import diff_against_ace
    from bv_store.days import day_range
    from bv_store.storage import Storage

    storage = Storage.from_url(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    failed = 0
    with AceClient(settings.ace_api_base, os.environ.get("ACE_API_KEY", "")) as client:
        for site in sites:
            for day in day_range(start, end):
                outcome = diff_against_ace(client, storage, site, day)
                failed += not outcome.passed
                print(("ok     " if outcome.passed else "FAILED ") + f"{'ace diff':<18} {outcome.description}")
    return failed
