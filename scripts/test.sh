#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. pytest exit 5 (no tests collected) is a failure
# here too: a suite that runs nothing proves nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check .
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
