#!/usr/bin/env bash
# The embedded default: set up, start the ACE simulator, backfill 2 sites x 3 days through
# Dagster into local storage, print the archive, then serve the Dagster UI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/bv demo "$@"
