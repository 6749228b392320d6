"""The query engine as a Dagster resource: an asset reads the archive the way users do.
(No `from __future__ import annotations` here: Dagster resolves the resource annotation.)"""

import dagster as dg
from support.fixtures_query import SYN_POINTS, SYN_SITE

from bv_resources.query import QueryEngineResource


@dg.asset
def daily_max(query: QueryEngineResource) -> dg.MaterializeResult:
    result = query.get_engine().query(SYN_SITE, SYN_POINTS[:1], "2025-03-08", "2025-03-09", interval="1d", agg="max")
    return dg.MaterializeResult(metadata={"max": float(result.to_pandas().value.iloc[0])})


def test_the_engine_is_a_dagster_resource(synthetic_site):
    storage, truth = synthetic_site
    with dg.instance_for_test() as instance:
        run = dg.materialize(
            [daily_max], resources={"query": QueryEngineResource(storage_url=storage.url)}, instance=instance
        )
    want = truth[(truth.point == SYN_POINTS[0]) & (truth.ts < "2025-03-09T00:00Z")].value.max()
    assert run.asset_materializations_for_node("daily_max")[0].metadata["max"].value == want
