"""Keeping the `site` partitions in step with BV_SITES (plain functions + the sensor)."""


import dagster as dg

from bv_assets.jobs import point_catalog_job
from bv_assets.partitions import SITE_PARTITIONS_NAME, site_partitions
from bv_resources.settings import Settings


def missing_sites(instance: dg.DagsterInstance, wanted: list[str]) -> list[str]:
    known = set(instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
    return [s for s in wanted if s not in known]


def register_sites(instance: dg.DagsterInstance, sites: list[str]) -> list[str]:
    """Add the sites that are not yet partitions; returns the ones added."""
    new = missing_sites(instance, sites)
    if new:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, new)
    return new


@dg.sensor(
    job=point_catalog_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers every site in BV_SITES as a partition and fetches its point catalog.",
)
def sites_sensor(context: dg.SensorEvaluationContext) -> "dg.SensorResult | dg.SkipReason":
    wanted = Settings.from_env().sites
    new = missing_sites(context.instance, wanted)
    if not new:
        return dg.SkipReason(f"all {len(wanted)} sites of BV_SITES are registered")
    context.log.info(f"registering sites: {', '.join(new)}")
    return dg.SensorResult(
        dynamic_partitions_requests=[site_partitions.build_add_request(new)],
        run_requests=[dg.RunRequest(partition_key=s, run_key=f"catalog-{s}") for s in new],
    )
