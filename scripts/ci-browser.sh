#!/usr/bin/env bash
# What the browser test needs: Debian's Chromium and playwright-core (pinned in
# tests/browser/package-lock.json). Idempotent and quick when both are already there.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "Chromium is missing and this is not root (and there is no sudo): install the 'chromium' package." >&2
    exit 1
  fi
  echo "Installing chromium with apt-get..." >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2
fi

if [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
  (cd "$here/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
