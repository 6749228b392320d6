#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install Building Vitals with its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version)'
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# Runtime dependencies at the versions the image ships (deploy/constraints.txt, checked by the tests).
.venv/bin/python -m pip install --quiet -e '.[dev]' -c deploy/constraints.txt
