"""The Dagster code location: `dagster dev -w workspace.yaml` loads `defs` from here.

Each domain (catalog, site-day, live, rollups, verify, maintenance, sites, alerts) builds its own
Definitions from the settings; they are merged here with the resources. Settings are read
when Dagster loads the code location, never at import.
"""

from __future__ import annotations

import dagster as dg

from bv_assets.alerts import defs as alerts
from bv_assets.alerts.defs import AlertWebhookResource
from bv_assets.catalog import defs as catalog
from bv_assets.live import defs as live
from bv_assets.maintenance import defs as maintenance
from bv_assets.rollups import defs as rollups
from bv_assets.site_day import defs as site_day
from bv_assets.sites import defs as sites
from bv_assets.verify import defs as verify
from bv_config.settings import Settings
from bv_resources.ace import AceResource
from bv_resources.duckdb import StorageDuckDBResource
from bv_resources.query import QueryEngineResource
from bv_resources.storage import StorageResource


def build_resources(settings: Settings) -> dict:
    return {
        # Secrets are read from the environment at run time and never shown in the UI.
        "ace": AceResource(api_base=settings.ace_api_base, api_key=dg.EnvVar("ACE_API_KEY")),
        "storage": StorageResource(url=settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url),
        "duckdb": StorageDuckDBResource(),
        "query": QueryEngineResource(storage_url=settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url),
        "alerts": AlertWebhookResource(url=dg.EnvVar("BV_ALERT_WEBHOOK_URL") if settings.alert_webhook_url else None),
    }


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions.merge(
        catalog.build(settings),
        site_day.build(settings),
        live.build(settings),
        rollups.build(settings),
        maintenance.build(settings),
        sites.build(settings),
        verify.build(settings),
        __import__("bv_assets.health.defs", fromlist=["build"]).build(settings),  # point health domain
        alerts.defs,
        dg.Definitions(
            resources=build_resources(settings),
            # A site-day run's steps (raw -> archive -> checks) are sequential, so one process per
            # run saves two process start-ups per partition; parallelism comes from concurrent runs.
            executor=dg.in_process_executor,
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(Settings.load())
