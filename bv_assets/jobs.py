"""Asset jobs (partitions come from the assets themselves)."""

import dagster as dg

from bv_assets.assets import ace_points, archived_site_day, hourly_rollup, raw_site_day

# Checks of the selected assets run in the same job, after the asset they verify.
site_day_job = dg.define_asset_job(
    "site_day_job",
    selection=dg.AssetSelection.assets(raw_site_day, archived_site_day),
    description="Fetch one site-day from ACE into the raw zone and archive it.",
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
