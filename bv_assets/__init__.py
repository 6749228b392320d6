"""Building Vitals Dagster definitions: assets, checks, partitions, jobs and sensors."""

import warnings

from dagster import BetaWarning, PreviewWarning

# Dagster APIs this project relies on are marked beta/preview and warn on every code-location
# load (in every run's logs); they are the documented way to do what we need:
# day-to-site and day-to-month mappings, and check results per partition.
warnings.filterwarnings(
    "ignore", category=BetaWarning, message=r".*(MultiToSingleDimensionPartitionMapping|MultiPartitionMapping"
    r"|allow_nonexistent_upstream_partitions).*"
)
warnings.filterwarnings("ignore", category=PreviewWarning, message=r".*partitions_def on an AssetCheckSpec.*")
