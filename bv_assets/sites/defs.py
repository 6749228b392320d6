"""sites_sensor: registers every wanted site (BV_SITES, the sites file, optionally ACE) as a
partition and fetches its point catalog; no restart needed to add a site."""


from pathlib import Path

import dagster as dg

from bv_assets.partitions import missing_sites, site_partitions
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
        if not new:
            return dg.SkipReason(f"all {len(wanted)} wanted sites (BV_SITES, {Path(settings.sites_file).name}) are registered")
        context.log.info(f"registering sites: {', '.join(new)}")
        return dg.SensorResult(
            dynamic_partitions_requests=[site_partitions.build_add_request(new)],
            run_requests=[dg.RunRequest(partition_key=s, run_key=f"catalog-{s}") for s in new],
        )

    return sites_sensor


def build(settings: Settings) -> dg.Definitions:
    return dg.Definitions(sensors=[build_sites_sensor(settings)])
