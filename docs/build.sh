#!/usr/bin/env bash
# Build the documentation site in strict mode: every warning (a broken cross-reference, a page
# missing from the toctree, a failing notebook cell) is an error and the exit status is 1.
#   docs/build.sh            -> docs/_build/html
#   PYTHON=.venv/bin/python docs/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export JAX_PLATFORMS=${JAX_PLATFORMS:-cpu}
exec "$PYTHON" -m sphinx -W --keep-going -n -E -j 2 -b html docs docs/_build/html "$@"
