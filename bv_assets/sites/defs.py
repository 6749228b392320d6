"""sites_sensor: registers every wanted site (BV_SITES, the sites file, optionally ACE) as a
partition and fetches its point catalog; no restart needed to add a site."""


import json
from pathlib import Path

import dagster as dg

from bv_assets.partitions import missing_sites, registered_sites, site_partitions
from bv_config.settings import Settings
from bv_pipeline.site_registry import wanted_sites
from bv_resources.ace import AceResource


def build_sites_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        job_name="point_catalog_job",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Registers every site in BV_SITES and the sites file as a partition and fetches its point catalog.",
    )
    def sites_sensor(context: dg.SensorEvaluationContext, ace: AceResource) -> "dg.SensorResult | dg.SkipReason":
        if settings.sites_from_ace:
            with ace.get_client() as client:
                wanted = wanted_sites(settings, client)
        else:
            wanted = wanted_sites(settings)
        new = missing_sites(context.instance, wanted)
        # Partitions nobody configured (e.g. a typo typed into the backfill dialog) are never
        # synced; say so once per site, with the fix, instead of failing every 5 minutes.
        reported = set(json.loads(context.cursor)) if context.cursor else set()
        strays = sorted(set(registered_sites(context.instance)) - set(wanted))
        fresh_strays = [s for s in strays if s not in reported]
        note = ""
        if fresh_strays:
            note = (f"site partitions not configured in BV_SITES or {Path(settings.sites_file).name}, so never synced "
                    f"or closed: {', '.join(fresh_strays)}; if they are typos remove them: "
                    + "; ".join(f"bv sites remove {s}" for s in fresh_strays))
            context.log.warning(note)
        cursor = json.dumps(sorted(set(strays)))
        if not new:
            return dg.SensorResult(
                skip_reason=note or f"all {len(wanted)} wanted sites (BV_SITES, {Path(settings.sites_file).name}) are registered",
                cursor=cursor,
            )
        context.log.info(f"registering sites: {', '.join(new)}")
        return dg.SensorResult(
            dynamic_partitions_requests=[site_partitions.build_add_request(new)],
            run_requests=[dg.RunRequest(partition_key=s, run_key=f"catalog-{s}") for s in new],
            cursor=cursor,
        )

    return sites_sensor


def build(settings: Settings) -> dg.Definitions:
    return dg.Definitions(sensors=[build_sites_sensor(settings)])
