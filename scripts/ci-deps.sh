#!/usr/bin/env bash
# System and npm packages the tests need (strict CSMS, MicroPython wasm, Mosquitto, Chromium and
# Playwright); idempotent and quick when already present.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/tests/strict_csms/package.json" ] && [ ! -d "$here/tests/strict_csms/node_modules" ]; then
  (cd "$here/tests/strict_csms" && npm ci --no-audit --no-fund --loglevel=error)
fi
bash "$here/scripts/ci-firmware.sh"
bash "$here/scripts/ci-mqtt.sh"
bash "$here/scripts/ci-browser.sh"
