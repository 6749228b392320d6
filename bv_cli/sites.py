"""`bv sites list|remove NAME`: the registered site partitions, and removing a stray one
(a typo typed into the backfill dialog). Stored data is never touched."""

from __future__ import annotations

import sys


def run_sites(args) -> int:
    import dagster as dg

    from bv_assets.partitions import SITE_PARTITIONS_NAME
    from bv_assets.site_guard import site_states
    from bv_cli.home import ensure_dagster_home
    from bv_config.settings import Settings
    from bv_store.storage import Storage

    settings = Settings.load()
    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        if args.action == "remove":
            if not args.name:
                print("bv sites remove: name the site partition to remove", file=sys.stderr)
                return 2
            if args.name not in instance.get_dynamic_partitions(SITE_PARTITIONS_NAME):
                print(f"bv sites remove: {args.name!r} is not a registered site partition", file=sys.stderr)
                return 1
            instance.delete_dynamic_partition(SITE_PARTITIONS_NAME, args.name)
            print(f"removed site partition {args.name} (its stored files, if any, are kept)")
            return 0
        storage = Storage.from_url(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
        states = site_states(instance, settings, storage)
        for site in states.active:
            print(f"active          {site}")
        for site in states.no_catalog:
            print(f"no catalog yet  {site}  (sites_sensor fetches it; or bv materialize)")
        for site in states.not_configured:
            print(f"not configured  {site}  (never synced; a typo? bv sites remove {site})")
    return 0
