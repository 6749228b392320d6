"""The storage layout: every key a builder makes reads back through its parser, and nothing else does."""

from datetime import date

import pytest

from bv_store import layout as L

DAY = date(2025, 2, 28)
SITES = ["demo_office", "site.with.dots", "a-b_c.d", "X9", "9"]

# dataset -> (build(site), parse(key), what the parse must give back)
DATASETS = {
    "raw": (lambda s: L.raw_key(s, DAY), L.parse_raw_key, lambda s: L.SiteDayKey(s, DAY)),
    "archive": (lambda s: L.archive_key(s, DAY), L.parse_archive_key, lambda s: L.SiteDayKey(s, DAY)),
    "rollup": (lambda s: L.rollup_key(s, "2025-02"), L.parse_rollup_key, lambda s: L.SiteMonthKey(s, "2025-02")),
    "live": (lambda s: L.live_part_key(s, DAY, 1_740_700_800_000_000, "ab12cd"), L.parse_live_part_key,
             lambda s: L.LivePartKey(s, DAY, 1_740_700_800_000_000, "ab12cd")),
    "health": (lambda s: L.health_key(s, DAY), L.parse_health_key, lambda s: L.SiteDayKey(s, DAY)),
}


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_builder_and_parser_round_trip(dataset, site):
    build, parse, expected = DATASETS[dataset]
    key = build(site)
    assert parse(key) == expected(site)
    assert L.site_of_key(key) == site


@pytest.mark.parametrize("dataset", DATASETS)
def test_parser_refuses_keys_of_other_datasets(dataset):
    _, parse, _ = DATASETS[dataset]
    others = [b("demo") for name, (b, _, _) in DATASETS.items() if name != dataset]
    others += [L.points_key("demo"), L.live_cursor_key("demo")]
    assert [k for k in others if parse(k) is not None] == []


@pytest.mark.parametrize("key", [
    # temp and scratch names next to a real file
    "archive/site=demo/date=2025-02-28/.data.parquet.tmp-abc",
    "raw/site=demo/date=2025-02-28/.samples.parquet.tmp-abc",
    "rollup/hourly/site=demo/month=2025-02/.data.parquet.tmp-0f",
    "live/site=demo/date=2025-02-28/.part-00001740700800000-ab12.parquet.tmp-abc",
    ".scratch/.tmp-0123abcd.parquet.partial",
    # extra or missing path segments
    "archive/site=demo/date=2025-02-28/extra/data.parquet",
    "vitals/archive/site=demo/date=2025-02-28/data.parquet",
    "archive/site=demo/data.parquet",
    "archive/site=demo/date=2025-02-28/data.parquet/",
    "raw/site=demo/date=2025-02-28/samples.parquet.bak",
    "live/site=demo/date=2025-02-28/part-123-ab_cd.parquet",
    # prefix-only keys
    L.archive_site_prefix("demo"), L.rollup_site_prefix("demo"), L.live_day_prefix("demo", DAY),
    "archive/", "archive/site=demo/date=2025-02-28/",
    # not a site name / not a date
    "archive/site=/date=2025-02-28/data.parquet", "archive/site=.x/date=2025-02-28/data.parquet",
    "archive/site=demo/date=20250228/data.parquet", "rollup/hourly/site=demo/month=2025-2/data.parquet",
])
def test_parsers_return_none_for_other_keys(key):
    parsed = [p(key) for _, p, _ in DATASETS.values()]
    assert parsed == [None] * len(DATASETS)


def test_site_prefix_does_not_confuse_demo_and_demo_office():
    key = L.archive_key("demo_office", DAY)
    assert L.parse_archive_key(key).site == "demo_office"
    assert not key.startswith(L.archive_site_prefix("demo"))
    assert not L.live_part_key("demo_office", DAY, 1, "t").startswith(L.live_site_prefix("demo"))
    assert not L.rollup_key("demo_office", "2025-02").startswith(L.rollup_site_prefix("demo"))
    assert L.archive_site_prefix("demo") == "archive/site=demo/"
    assert L.site_of_key(key) == "demo_office"


@pytest.mark.parametrize("bad", ["", "bad name", "bad name!", "../etc", "a/b", ".hidden", "-lead", "_lead",
                                 "x" * 129, "site=x", "caf\u00e9", "tab\there"])
@pytest.mark.parametrize("builder", [
    L.points_key, L.live_cursor_key, L.archive_site_prefix, L.rollup_site_prefix, L.live_site_prefix,
    lambda s: L.raw_key(s, DAY), lambda s: L.archive_key(s, DAY), lambda s: L.rollup_key(s, "2025-02"),
    lambda s: L.live_day_prefix(s, DAY), lambda s: L.live_part_key(s, DAY, 1, "t"),
])
def test_builders_reject_invalid_site_names(builder, bad):
    with pytest.raises(ValueError, match="invalid site name"):
        builder(bad)


def test_longest_valid_site_name_is_accepted():
    site = "s" * 128
    assert L.parse_archive_key(L.archive_key(site, DAY)).site == site


@pytest.mark.parametrize("key, site", [
    (L.points_key("p.site"), "p.site"),
    (L.raw_key("r-site", DAY), "r-site"),
    (L.archive_key("a_site", DAY), "a_site"),
    (L.live_part_key("l.site-1", DAY, 5, "tok"), "l.site-1"),
    (L.rollup_key("roll_up", "2025-02"), "roll_up"),
    (L.archive_site_prefix("demo"), "demo"),
    ("README.md", None), ("archive/data.parquet", None), ("site=demo/data.parquet", None),
])
def test_site_of_key(key, site):
    assert L.site_of_key(key) == site


def test_impossible_date_is_not_a_key():
    assert L.parse_archive_key("archive/site=demo/date=2025-02-30/data.parquet") is None
