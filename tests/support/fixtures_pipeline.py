"""Fixtures that wire the real simulator and a real storage backend into Dagster runs."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pytest

from bv_assets.partitions import SITE_PARTITIONS_NAME, site_day_key
from bv_assets.runner import error_text
from bv_config.settings import Settings
from support.defs import PipelineDefs, pipeline_defs

TEST_DAY = date(2025, 6, 3)


@dataclass
class Pipeline:
    """One configured pipeline: env, resources and an instance, ready to materialize."""

    instance: dg.DagsterInstance
    settings: Settings
    storage: object
    sim: object

    @property
    def defs(self) -> PipelineDefs:
        return pipeline_defs(self.settings)

    @property
    def resources(self) -> dict:
        return self.defs.resources

    def catalog(self, site: str) -> dg.ExecuteInProcessResult:
        self.register(site)
        d = self.defs
        return dg.materialize(
            d.site_day_assets, selection=[d.asset("ace_points")], partition_key=site, instance=self.instance,
            resources=d.resources, raise_on_error=False,
        )

    def site_day(self, site: str, day: date = TEST_DAY) -> dg.ExecuteInProcessResult:
        self.register(site)
        d = self.defs
        return dg.materialize(
            d.site_day_assets, selection=[d.asset("raw_site_day"), d.asset("archived_site_day")],
            partition_key=str(site_day_key(site, day)), instance=self.instance, resources=d.resources,
            raise_on_error=False,
        )

    def register(self, site: str) -> None:
        if site not in self.instance.get_dynamic_partitions(SITE_PARTITIONS_NAME):
            self.instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [site])


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, tuple[bool, str]]:
    """check name -> (passed, severity) of a run's check evaluations."""
    return {c.check_name: (c.passed, c.severity.value) for c in result.get_asset_check_evaluations()}


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        error_text(e.step_failure_data.error) for e in result.get_step_failure_events() if e.step_failure_data.error
    ]


@contextmanager
def pipeline_for(sim, token, storage, monkeypatch):
    """A Pipeline whose settings point at `sim` and `storage` (built explicitly; the token is
    in the environment because the ACE resource reads it through EnvVar, as in production)."""
    monkeypatch.setenv("ACE_API_KEY", token)
    settings = Settings.load({
        "ACE_API_BASE": sim.base_url,
        "BV_SITES": "demo_office,demo_school",
        "BV_STORAGE_URL": storage.url,
        "BV_S3_ENDPOINT_URL": getattr(storage, "endpoint_url", None) or "",
        "BV_STEP_RETRIES": "0",
    })
    with dg.DagsterInstance.ephemeral() as instance:
        yield Pipeline(instance=instance, settings=settings, storage=storage, sim=sim)


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
