"""Which registered sites the schedules may act on: configured (BV_SITES, the sites file, or
ACE's list when BV_SITES_FROM_ACE) and with a stored point catalog. A partition added by
hand for a site nobody configured (a typo in the backfill dialog) is never synced or
closed; `sites_sensor` reports it once, with the fix."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from bv_assets.partitions import registered_sites
from bv_config.settings import Settings
from bv_pipeline.site_registry import wanted_sites
from bv_store.layout import points_key
from bv_store.storage import Storage


@dataclass
class SiteStates:
    active: list[str] = field(default_factory=list)
    not_configured: list[str] = field(default_factory=list)
    no_catalog: list[str] = field(default_factory=list)

    def skip_note(self) -> str:
        parts = []
        if self.not_configured:
            parts.append(f"not configured (remove with `bv sites remove`): {', '.join(self.not_configured)}")
        if self.no_catalog:
            parts.append(f"no point catalog yet (sites_sensor fetches it): {', '.join(self.no_catalog)}")
        return "; ".join(parts)


def site_states(instance: dg.DagsterInstance, settings: Settings, storage: Storage) -> SiteStates:
    states = SiteStates()
    # With BV_SITES_FROM_ACE the sensor registers what ACE lists; every registered site counts.
    wanted = None if settings.sites_from_ace else set(wanted_sites(settings))
    for site in registered_sites(instance):
        if wanted is not None and site not in wanted:
            states.not_configured.append(site)
        elif not storage.exists(points_key(site)):
            states.no_catalog.append(site)
        else:
            states.active.append(site)
    return states
