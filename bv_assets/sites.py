"""Keeping the `site` partitions in step with BV_SITES (plain functions + the sensor).

The sensor reads, at every tick: BV_SITES, the sites file (BV_SITES_FILE, default
`$BV_HOME/sites.txt`, one name per line or comma-separated; edit it while Dagster runs), and
— with BV_SITES_FROM_ACE=true — ACE's `/sites/?collect_enabled=true`. Adding a site needs
no code change and no restart.
"""

import os
from pathlib import Path

import dagster as dg

from bv_assets.jobs import point_catalog_job
from bv_assets.partitions import SITE_PARTITIONS_NAME, site_partitions
from bv_resources.settings import Settings, bv_home, parse_sites


def sites_file() -> Path:
    return Path(os.environ.get("BV_SITES_FILE") or bv_home() / "sites.txt")


def wanted_sites(ace_client=None) -> list[str]:
    sites = list(Settings.from_env().sites)
    path = sites_file()
    if path.is_file():
        lines = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
        sites += parse_sites(",".join(lines))
    if ace_client is not None:
        sites += parse_sites(",".join(s.get("name", "") for s in ace_client.list_sites(collect_enabled=True)))
    return list(dict.fromkeys(sites))


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
    if os.environ.get("BV_SITES_FROM_ACE", "").lower() in ("1", "true", "yes"):
        from bv_resources.ace_client import AceClient

        with AceClient(Settings.from_env().ace_api_base, os.environ.get("ACE_API_KEY", "")) as client:
            wanted = wanted_sites(client)
    else:
        wanted = wanted_sites()
    new = missing_sites(context.instance, wanted)
    if not new:
        return dg.SkipReason(f"all {len(wanted)} wanted sites (BV_SITES, {sites_file().name}) are registered")
    context.log.info(f"registering sites: {', '.join(new)}")
    return dg.SensorResult(
        dynamic_partitions_requests=[site_partitions.build_add_request(new)],
        run_requests=[dg.RunRequest(partition_key=s, run_key=f"catalog-{s}") for s in new],
    )
