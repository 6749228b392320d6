"""Asset jobs (partitions come from the assets themselves)."""

import dagster as dg

from bv_assets.assets import ace_points, archived_site_day, hourly_rollup, raw_site_day
from bv_assets.live_assets import live_released_site_day, live_site_samples

# Checks of the selected assets run in the same job, after the asset they verify.
site_day_job = dg.define_asset_job(
    "site_day_job",
    selection=dg.AssetSelection.assets(raw_site_day, archived_site_day, live_released_site_day),
    description=(
        "Fetch one site-day from ACE into the raw zone, archive it, and (once the archive's "
        "blocking checks passed) remove that day's live data."
    ),
)
point_catalog_job = dg.define_asset_job(
    "point_catalog_job",
    selection=dg.AssetSelection.assets(ace_points),
    description="Refresh a site's configured-point catalog.",
)
rollup_job = dg.define_asset_job(
    "rollup_job",
    selection=dg.AssetSelection.assets(hourly_rollup),
    description="Rebuild a site-month's hourly rollup from its archived days.",
)
live_sync_job = dg.define_asset_job(
    "live_sync_job",
    selection=dg.AssetSelection.assets(live_site_samples),
    tags={"bv/kind": "live_sync"},
    description="One live-sync tick for a site: the window since its cursor, appended to the live store.",
)
