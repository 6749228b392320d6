"""The pipeline's work as plain functions (no Dagster): fetch a catalog, ingest a site-day,
build and verify its archive, roll up a month, sync live data, prune the raw zone.
The Dagster assets in `bv_assets` are thin calls into these."""
