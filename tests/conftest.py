"""Shared pytest fixtures: each fixture module owns one real component started for real."""

import os

# Failure tests expect a step to fail once; Dagster's step retries (60 s apart in production)
# would only make them slow. Set before any test imports the asset definitions.
os.environ.setdefault("BV_STEP_RETRIES", "0")

pytest_plugins = ["fixtures_sim", "fixtures_s3", "fixtures_pipeline", "fixtures_query", "fixtures_postgres"]
