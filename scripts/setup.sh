#!/usr/bin/env bash
# One-time set-up on a fresh machine: Python venv with pinned deps, anvil from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Debian packages the tests need (apt needs root, as in CI; otherwise left to the user): headless
# Chromium for the page tests, systemd-analyze for the installer's check (tests/deploy:
# `systemd-analyze verify` on the unit). One apt-get update for all of them, none when none is missing.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]"
if [ ! -x node_modules/.bin/anvil ] && ! ls node_modules/@foundry-rs/anvil-linux-*/bin/anvil >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error
fi
# The claim page's build tools (viem, esbuild, qrcode; DESIGN §9): its vector and build tests need them.
if [ ! -d claim/node_modules/viem ] || [ claim/package-lock.json -nt claim/node_modules/.package-lock.json ]; then
    (cd claim && npm ci --no-audit --no-fund --loglevel=error)
fi
