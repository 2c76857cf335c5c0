#!/usr/bin/env bash
# Set up (if needed) and start the till with simulated devices and its own local chain.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/posd run --simulate "$@"
