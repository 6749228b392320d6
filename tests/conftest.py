"""Shared pytest fixtures: each fixture module owns one real component started for real."""

import os

# Failure tests expect a step to fail once; Dagster's step retries (60 s apart in production)
# would only make them slow. For the Dagster processes the tests start (daemon, CLI), which
# load their settings from the environment; in-process tests pass settings explicitly.
os.environ.setdefault("BV_STEP_RETRIES", "0")

pytest_plugins = [
    "support.fixtures_sim",
    "support.fixtures_s3",
    "support.fixtures_pipeline",
    "support.fixtures_query",
    "support.fixtures_postgres",
    "support.reliability",
]
