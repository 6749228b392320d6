#!/usr/bin/env bash
# Set up and run the whole test suite (the same command CI runs).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# Debian's PostgreSQL 15 and Chromium, which the tests drive for real (pip cannot install them).
if ! bash scripts/system_deps.sh; then
  if [ -n "${CI:-}" ]; then
    exit 1
  fi
  echo "scripts/test.sh: without them the PostgreSQL and chart-page tests are skipped" >&2
fi
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
if [ "$status" -eq 0 ]; then
  # docs/reliability.md from the rows the fault tests recorded (only when every fault test ran).
  .venv/bin/python benchmarks/reliability_report.py || true
fi
exit "$status"
