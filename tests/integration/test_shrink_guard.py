"""A re-fetch that returns much less than is stored (ACE retention sliding through the day,
a partial outage) is refused: the stored raw and archive files stay as they were."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from bv_pipeline.archive_build import build_archive
from bv_pipeline.catalog_refresh import refresh_catalog
from bv_store.catalog import read_catalog_names
from bv_store.layout import archive_key, raw_key
from bv_pipeline.raw_ingest import RawIngestError, ingest_site_day
from bv_ace.client import AceClient
from bv_sim.clock import SimClock

DAY, SITE = date(2025, 6, 3), "demo_office"


def test_a_half_day_never_replaces_a_whole_day(make_ace_sim, sim_token, local_storage):
    sim = make_ace_sim(clock=SimClock(fixed=datetime(2025, 6, 5, tzinfo=timezone.utc)))
    with AceClient(sim.base_url, sim_token) as client:
        refresh_catalog(client, local_storage, SITE)
        names = read_catalog_names(local_storage, SITE)
        first = ingest_site_day(client, local_storage, SITE, DAY)
        archived = build_archive(local_storage, SITE, DAY, names)
        raw_before = local_storage.read_bytes(raw_key(SITE, DAY))
        archive_before = local_storage.read_bytes(archive_key(SITE, DAY))

        sim.clock.set(datetime(2025, 6, 3, 12, tzinfo=timezone.utc))  # ACE now serves half the day
        with pytest.raises(RawIngestError, match="refusing to replace") as info:
            ingest_site_day(client, local_storage, SITE, DAY)
        assert str(first.samples) in str(info.value) and "BV_MAX_SHRINK_RATIO" in str(info.value)
        assert local_storage.read_bytes(raw_key(SITE, DAY)) == raw_before
        assert local_storage.read_bytes(archive_key(SITE, DAY)) == archive_before

        # On purpose (points removed, say): the operator allows it for this run.
        smaller = ingest_site_day(client, local_storage, SITE, DAY, max_shrink_ratio=1)
        rebuilt = build_archive(local_storage, SITE, DAY, names, max_shrink_ratio=1)
    assert smaller.samples < first.samples / 2
    assert rebuilt.metadata()["rows_added_since_previous"] == rebuilt.archived_rows - archived.archived_rows < 0
