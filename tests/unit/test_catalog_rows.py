"""A configured point of the wrong JSON shape is one clear CatalogError naming site and point."""

import pytest

from bv_pipeline.catalog_refresh import catalog_rows
from bv_store.catalog import CatalogError

GOOD = {"name": "s/p1", "collect_enabled": True, "collect_interval": 60, "marker_tags": ["vav"],
        "kv_tags": {"unit": "degF"}, "bacnet_data": {"object_units": "degF"}}


def test_a_good_point_is_a_row():
    (row,) = catalog_rows([GOOD], "site_a")
    assert row["name"] == "s/p1" and row["unit"] == "degF" and row["marker_tags"] == ["vav"]


@pytest.mark.parametrize(
    "field, value",
    [("bacnet_data", "BAC"), ("kv_tags", [["unit", "degF"]]), ("name", 17), ("marker_tags", "vav")],
)
def test_wrong_shapes_are_named(field, value):
    with pytest.raises(CatalogError, match=rf"site 'site_a'.*{field} is"):
        catalog_rows([GOOD, {**GOOD, field: value}], "site_a")


def test_a_point_that_is_not_an_object():
    with pytest.raises(CatalogError, match=r"#0 of site 'site_a'.*the point is str"):
        catalog_rows(["s/p1"], "site_a")


def test_infinite_interval_is_unknown_not_a_crash():
    (row,) = catalog_rows([{**GOOD, "collect_interval": float("inf")}], "site_a")
    assert row["collect_interval"] is None
