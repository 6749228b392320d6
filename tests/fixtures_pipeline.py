"""Fixtures that wire the real simulator and a real storage backend into Dagster runs."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pytest

from bv_assets.assets import ace_points, archived_site_day, raw_site_day
from bv_assets.checks import archived_site_day_checks
from bv_assets.definitions import build_resources
from bv_assets.partitions import SITE_PARTITIONS_NAME, site_day_key
from bv_assets.runner import error_text
from bv_resources.settings import Settings

ALL_ASSETS = [ace_points, raw_site_day, archived_site_day, archived_site_day_checks]
TEST_DAY = date(2025, 6, 3)


@dataclass
class Pipeline:
    """One configured pipeline: env, resources and an instance, ready to materialize."""

    instance: dg.DagsterInstance
    settings: Settings
    storage: object
    sim: object

    @property
    def resources(self) -> dict:
        return build_resources(self.settings)

    def catalog(self, site: str) -> dg.ExecuteInProcessResult:
        self.register(site)
        return dg.materialize(
            ALL_ASSETS, selection=[ace_points], partition_key=site, instance=self.instance,
            resources=self.resources, raise_on_error=False,
        )

    def site_day(self, site: str, day: date = TEST_DAY) -> dg.ExecuteInProcessResult:
        self.register(site)
        return dg.materialize(
            ALL_ASSETS, selection=[raw_site_day, archived_site_day], partition_key=str(site_day_key(site, day)),
            instance=self.instance, resources=self.resources, raise_on_error=False,
        )

    def register(self, site: str) -> None:
        if site not in self.instance.get_dynamic_partitions(SITE_PARTITIONS_NAME):
            self.instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [site])


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, tuple[bool, str]]:
    """check name -> (passed, severity) from a run's events."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            out[data.check_name] = (data.passed, data.severity.value)
    return out


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        error_text(e.event_specific_data.error)
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE" and e.event_specific_data.error
    ]


@contextmanager
def pipeline_for(sim, token, storage, monkeypatch):
    """A Pipeline whose environment points at `sim` and `storage`."""
    monkeypatch.setenv("ACE_API_BASE", sim.base_url)
    monkeypatch.setenv("ACE_API_KEY", token)
    monkeypatch.setenv("BV_SITES", "demo_office,demo_school")
    monkeypatch.setenv("BV_STORAGE_URL", storage.url)
    with dg.DagsterInstance.ephemeral() as instance:
        yield Pipeline(instance=instance, settings=Settings.from_env(), storage=storage, sim=sim)


@pytest.fixture
def pipeline(ace_sim, sim_token, storage, monkeypatch):
    """The pipeline pointed at a fresh simulator and a fresh storage (local and S3)."""
    with pipeline_for(ace_sim, sim_token, storage, monkeypatch) as pipe:
        yield pipe


@pytest.fixture
def local_pipeline(ace_sim, sim_token, local_storage, monkeypatch):
    """Like `pipeline`, on local storage only (for tests about behaviour, not backends)."""
    with pipeline_for(ace_sim, sim_token, local_storage, monkeypatch) as pipe:
        yield pipe
