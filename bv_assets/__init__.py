"""Building Vitals Dagster definitions: assets, checks, partitions, jobs and sensors."""

import warnings

from dagster import BetaWarning

# Dagster APIs this project relies on are marked beta and warn on every code-location
# load (in every run's logs); they are the documented way to do what we need.
warnings.filterwarnings(
    "ignore", category=BetaWarning, message=r".*(backfill_policy|MultiToSingleDimensionPartitionMapping|MultiPartitionMapping"
    r"|allow_nonexistent_upstream_partitions).*"
)
