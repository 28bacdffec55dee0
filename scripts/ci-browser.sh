#!/usr/bin/env bash
# What the browser test needs: Debian's Chromium and playwright-core (pinned in
# tests/browser/package-lock.json). Idempotent and quick when both are already there.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x /usr/bin/chromium ]; then
  bash "$here/scripts/apt-install.sh" chromium
fi

if [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
  (cd "$here/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
