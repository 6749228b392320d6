"""The pipeline's Dagster definitions, built from explicit settings, by name."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from bv_assets.definitions import build_defs, build_resources
from bv_config.settings import Settings


@dataclass
class PipelineDefs:
    defs: dg.Definitions
    resources: dict

    def asset(self, name: str) -> dg.AssetsDefinition:
        return next(a for a in self.defs.assets if a.key.to_user_string() == name)

    def checks_of(self, asset_name: str) -> dg.AssetChecksDefinition:
        return next(c for c in self.defs.asset_checks if any(s.asset_key.to_user_string() == asset_name for s in c.check_specs))

    def schedule(self, name: str) -> dg.ScheduleDefinition:
        return next(s for s in self.defs.schedules if s.name == name)

    def sensor(self, name: str) -> dg.SensorDefinition:
        return next(s for s in self.defs.sensors if s.name == name)

    @property
    def site_day_assets(self) -> list:
        """ace_points, raw_site_day, archived_site_day and the archive's checks."""
        return [self.asset("ace_points"), self.asset("raw_site_day"), self.asset("archived_site_day"),
                self.checks_of("archived_site_day")]


def pipeline_defs(settings: Settings | None = None) -> PipelineDefs:
    settings = settings or Settings.load()
    return PipelineDefs(build_defs(settings), build_resources(settings))


def storage_with_catalogs(root, sites: list[str]):
    """A local storage whose sites have a (one-point) catalog, and its Dagster resource."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bv_resources.storage import StorageResource
    from bv_store.layout import points_key
    from bv_store.publish import publish
    from bv_store.schemas import CATALOG_SCHEMA
    from bv_store.storage import LocalStorage

    storage = LocalStorage(root)
    for site in sites:
        table = pa.Table.from_pylist([{"name": f"{site}/point/1", "collect_enabled": True, "collect_interval": 60}],
                                     schema=CATALOG_SCHEMA)
        publish(storage, points_key(site), lambda path: pq.write_table(table, path), expect_rows=1)
    return storage, {"storage": StorageResource(url=str(root))}
